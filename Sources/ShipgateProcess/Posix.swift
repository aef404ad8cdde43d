#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The few system calls whose names clash with Swift methods (`write`, `kill`), spelled once.
public enum Posix {
    public static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int {
        #if canImport(Glibc)
            Glibc.write(fd, buffer.baseAddress, buffer.count)
        #else
            Darwin.write(fd, buffer.baseAddress, buffer.count)
        #endif
    }

    public static func kill(_ pid: Int32, _ signal: Int32) -> Int32 {
        #if canImport(Glibc)
            Glibc.kill(pid, signal)
        #else
            Darwin.kill(pid, signal)
        #endif
    }
}
