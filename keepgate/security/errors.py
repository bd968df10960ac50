"""Verification failures raised by ``security``; callers catch them, they cannot forget them.

They are internal and never reach a client: whoever catches one answers with a public error
instead (``keepgate.domain.errors`` draws which answers which).
"""


class VerificationFailed(Exception):
    """Base of every failed check."""


class InvalidPassword(VerificationFailed):
    pass


class InvalidCodeDigest(VerificationFailed):
    pass


class InvalidCsrfToken(VerificationFailed):
    pass


class InvalidWebAuthnResponse(VerificationFailed):
    pass


class ClonedAuthenticator(InvalidWebAuthnResponse):
    """A correctly signed answer whose sign count did not increase: the key was copied (or
    the answer replayed), and the copy is in someone's hands."""


class InvalidCaptcha(VerificationFailed):
    """A proof-of-work answer that is malformed, forged, wrong, expired or for another action."""


class InvalidOpaqueId(VerificationFailed):
    """An id we did not make, or made for another account."""


class InvalidServiceSecret(VerificationFailed):
    """A service client's secret that does not match the one stored for it."""
