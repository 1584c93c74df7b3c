"""The dashboard's screens pushed over the main one (detail, dialogs, deploy, rehearsal)."""
