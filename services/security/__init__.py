"""Who is calling and what they may see: tokens, keys, roles and the caller of the current call."""
