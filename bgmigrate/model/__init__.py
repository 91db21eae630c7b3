"""The pure model: operations, the schema they act on, replaying one onto the other, lock levels."""
