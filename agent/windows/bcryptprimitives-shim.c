/*
 * A stand-in for bcryptprimitives.dll, for running the agent and its tests under Wine 8 only.
 *
 * Why: Rust's standard library (since 1.78) imports ProcessPrng from bcryptprimitives.dll on
 * Windows. Wine 8.0, which Debian 12 ships, has no such DLL, so every Rust .exe exits with
 * status 53 before main. Real Windows (10 and later) and Wine 9 ship the DLL; this shim is never
 * installed anywhere but a test Wine prefix (scripts/test-windows copies it into system32).
 *
 * ProcessPrng fills the buffer from RtlGenRandom (advapi32's SystemFunction036), which takes a
 * ULONG length, so large requests are served in chunks.
 */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
