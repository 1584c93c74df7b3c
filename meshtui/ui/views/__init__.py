"""The dashboard's views: one per kind of thing, each fed through its ViewContext."""
