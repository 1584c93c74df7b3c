"""Pure core: babeld protocol parsing, the live model, config grammar. No Textual, Rich or I/O."""
