"""A tracking session driven by the third-party ndicapi library (module ``ndicapy``).

Run as ``python -m tests.devices.ndi.ndicapi_client PORT MODEL [ROM]`` against an emulator;
prints one JSON object with what ndicapi read. It runs in its own process because ndicapy
holds the GIL while it waits, and because its error table can crash the interpreter.
"""

import json
import sys

import ndicapy as ndi


def session(port: str, model: str, rom: str | None) -> dict:
    """Probe, open, initialise, load and enable tools, read BX and TX; return what was seen."""
    seen = {"probe": ndi.ndiProbe(port)}
    device = ndi.ndiOpen(port)
    seen["init"] = ndi.ndiCommand(device, "INIT:")
    comm = f"COMM:{ndi.NDI_115200:d}{ndi.NDI_8N1:03d}{ndi.NDI_NOHANDSHAKE:d}"
    seen["comm"] = ndi.ndiCommand(device, comm)
    seen["ver"] = ndi.ndiCommand(device, "VER:0")
    try:
        ndi.ndiCommand(device, "TX:0801")
    except OSError as error:
        seen["tx_before_tstart"] = str(error)
    handles = []
    if model == "polaris":
        for _ in range(2):
            ndi.ndiCommand(device, "PHRQ:*********1****")
            handle = ndi.ndiGetPHRQHandle(device)
            ndi.ndiPVWRFromFile(device, handle, rom)
            handles.append(handle)
    for _ in range(4):  # Aurora: until no handle is left uninitialised
        ndi.ndiCommand(device, "PHSR:02")
        count = ndi.ndiGetPHSRNumberOfHandles(device)
        if not count:
            break
        for index in range(count):
            handle = ndi.ndiGetPHSRHandle(device, index)
            ndi.ndiCommand(device, f"PINIT:{handle:02X}")
            ndi.ndiCommand(device, f"PENA:{handle:02X}D")
            if handle not in handles:
                handles.append(handle)
    seen["handles"] = handles
    seen["tstart"] = ndi.ndiCommand(device, "TSTART:")
    ndi.ndiCommand(device, "BX:0801")
    seen["bx"] = [list_or_text(ndi.ndiGetBXTransform(device, bytes([h]))) for h in handles]
    seen["bx_frame"] = ndi.ndiGetBXFrame(device, bytes([handles[0]]))
    seen["bx_port_status"] = ndi.ndiGetBXPortStatus(device, bytes([handles[0]]))
    ndi.ndiCommand(device, "TX:0801")
    seen["tx"] = [list_or_text(ndi.ndiGetTXTransform(device, bytes([h]))) for h in handles]
    seen["tx_frame"] = ndi.ndiGetTXFrame(device, bytes([handles[0]]))
    seen["tstop"] = ndi.ndiCommand(device, "TSTOP:")
    seen["error"] = ndi.ndiGetError(device)
    ndi.ndiClose(device)
    return seen


def list_or_text(value):
    return list(value) if isinstance(value, tuple) else value


if __name__ == "__main__":
    arguments = sys.argv[1:]
    print(
        json.dumps(
            session(arguments[0], arguments[1], arguments[2] if len(arguments) > 2 else None)
        )
    )
