"""The BMC error hierarchy every power driver raises: retryable (the BMC may answer later) versus
fatal (asking again cannot help). Services decide on retries from the class alone."""
from __future__ import annotations


class BmcError(Exception):
    """Something went wrong talking to a BMC. `retryable` says whether asking again may help."""

    retryable = False
    code = "bmc_error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class RetryableBmcError(BmcError):
    """No answer, a timeout, a refused connection: the BMC may be busy or rebooting."""

    retryable = True
    code = "bmc_unavailable"


class BmcTimeout(RetryableBmcError):
    """The call did not finish before its deadline (the BMC is silent or very slow)."""

    code = "bmc_timeout"


class BmcUnreachable(RetryableBmcError):
    """The connection was refused or dropped, or the BMC's answer made no sense this time."""

    code = "bmc_unreachable"


class FatalBmcError(BmcError):
    """Retrying cannot help until a person changes something (credentials, certificate, driver)."""

    code = "bmc_fatal"


class BmcAuthError(FatalBmcError):
    """The BMC rejected the user name or password."""

    code = "bmc_auth"


class BmcCertificateMismatch(FatalBmcError):
    """The BMC's TLS certificate is not the one pinned on its record."""

    code = "bmc_certificate"


class BmcUnsupported(FatalBmcError):
    """The BMC (or this driver) does not support the requested operation or value."""

    code = "bmc_unsupported"
