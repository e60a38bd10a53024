"""Type stubs of the `lm` extension module."""

from typing import Callable, Dict, Optional, Tuple, Union, Any

DEMO_KEY: str
DEMO_SEAL_KEY: str
DEMO_VENDOR: str

class LicenseError(Exception):
    code: int
    minor: int
    text: str
    feature: str
    long_form: str

class License:
    feature: str
    version: str
    count: int
    expiry: str
    expire_days: Optional[int]
    vendor_string: Optional[str]
    notice: Optional[str]
    issuer: Optional[str]
    serial: Optional[str]
    held: bool
    def status(self) -> None: ...
    def checkin(self) -> None: ...
    def __enter__(self) -> "License": ...
    def __exit__(self, t: Any, v: Any, tb: Any) -> bool: ...

class QueuedLicense:
    def wait(self, timeout: Optional[float] = None) -> License: ...
    def try_take(self) -> Optional[License]: ...
    def cancel(self) -> None: ...

class Job:
    id: int
    def __init__(
        self,
        vendor: str,
        key: str,
        seal_key: Optional[str] = None,
        license_path: Optional[str] = None,
        policy: str = "retries",
        grace: Optional[float] = None,
        retry_interval: Optional[float] = None,
        retry_count: int = 5,
        connect_timeout: Optional[float] = None,
    ) -> None: ...
    def checkout(
        self,
        feature: str,
        version: str = "1.0",
        count: int = 1,
        wait: bool = False,
        queue: bool = False,
    ) -> Union[License, QueuedLicense]: ...
    def checkin(self, license: License) -> None: ...
    def status(self) -> Dict[str, Any]: ...
    def heartbeat(self, minutes: int = 0) -> Tuple[int, int]: ...
    def set_idle(self, idle: bool) -> None: ...
    def on_event(self, callback: Callable[[Dict[str, Any]], None]) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Job": ...
    def __exit__(self, t: Any, v: Any, tb: Any) -> bool: ...
