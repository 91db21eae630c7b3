"""SQL text at the lowest level: the one lexer, statement splitting, tokens, suppression comments, quoting, names and type facts."""
