"""STATUS (`status.md`): C uint16, SUB_CODE int64, ERROR_NAME char[20], MESSAGE (the rest,
NUL-terminated). pyigtl has no STATUS class.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from adapters.igtl.wire import MessageError, decode_name, encode_name

STATUS_HEADER = struct.Struct(">Hq20s")  # 30 bytes

#: Status codes as `status.md` numbers them.
STATUS_CODES: dict[int, str] = {
    1: "OK",
    2: "Unknown error",
    3: "Panic mode",
    4: "Not found",
    5: "Access denied",
    6: "Busy",
    7: "Time out / connection lost",
    8: "Overflow",
    9: "Checksum error",
    10: "Configuration error",
    11: "Not enough resource",
    12: "Unknown instruction",
    13: "Device not ready",
    14: "Manual mode",
    15: "Device disabled",
    16: "Device not present",
    17: "Device version not known",
    18: "Hardware failure",
    19: "Shutting down",
}
OK, UNKNOWN_ERROR, NOT_FOUND, BUSY, CHECKSUM_ERROR, UNKNOWN_INSTRUCTION, SHUTTING_DOWN = (
    1,
    2,
    4,
    6,
    9,
    12,
    19,
)


@dataclass(frozen=True, slots=True)
class Status:
    code: int
    sub_code: int = 0
    error_name: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code == OK

    def describe(self) -> str:
        meaning = STATUS_CODES.get(self.code, f"code {self.code}")
        parts = [meaning]
        if self.error_name:
            parts.append(self.error_name)
        if self.message:
            parts.append(self.message)
        return ": ".join(parts)


def decode_status(content: bytes | memoryview) -> Status:
    if len(content) < STATUS_HEADER.size:
        raise MessageError(f"STATUS content of {len(content)} bytes is shorter than 30")
    code, sub_code, name = STATUS_HEADER.unpack_from(content)
    message = decode_name(content[STATUS_HEADER.size :]) if len(content) > 30 else ""
    return Status(code, sub_code, decode_name(name), message)


def encode_status(status: Status) -> bytes:
    return (
        STATUS_HEADER.pack(status.code, status.sub_code, encode_name(status.error_name, 20))
        + status.message.encode("utf-8")
        + b"\0"
    )
