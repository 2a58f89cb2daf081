"""Who is calling: API tokens (stored hashed, revocable); people who sign in come later."""
