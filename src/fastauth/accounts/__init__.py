"""Accounts: users (register, authenticate, change password, the user cache) and one-time codes."""

from fastauth.accounts.users import Accounts, UserCache, normalize_email, rate_limit_key

__all__ = ["Accounts", "UserCache", "normalize_email", "rate_limit_key"]
