"""Verification failures raised by ``security``; callers catch them, they cannot forget them."""


class VerificationFailed(Exception):
    """Base of every failed check."""


class InvalidPassword(VerificationFailed):
    pass


class InvalidCodeDigest(VerificationFailed):
    pass


class InvalidCsrfToken(VerificationFailed):
    pass
