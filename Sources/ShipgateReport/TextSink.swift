import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where reporters write text. Thread-safe; each `write` reaches the destination whole,
/// so lines from parallel jobs never interleave mid-line.
public protocol TextSink: Sendable {
    func write(_ text: String)
}

/// Writes to a file descriptor (stdout, stderr) with one `write(2)` per call.
public final class FileDescriptorSink: TextSink, @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()

    public init(fd: Int32) { self.fd = fd }
    public static let standardOutput = FileDescriptorSink(fd: 1)
    public static let standardError = FileDescriptorSink(fd: 2)

    public func write(_ text: String) {
        var text = text
        lock.lock()
        defer { lock.unlock() }
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return  // EPIPE etc.: the reader went away; nothing sensible left to do
                }
                offset += n
            }
        }
    }

    public var isTerminal: Bool { isatty(fd) == 1 }
}

/// Collects text in memory (tests, golden files).
public final class MemorySink: TextSink, @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = ""
    public init() {}
    public func write(_ text: String) {
        lock.lock()
        buffer += text
        lock.unlock()
    }
    public var text: String {
        lock.lock()
        defer { lock.unlock() }
        return buffer
    }
}

/// ANSI styling, or nothing when colour is off.
public struct Style: Sendable {
    public var enabled: Bool
    public init(enabled: Bool) { self.enabled = enabled }
    func wrap(_ code: String, _ s: String) -> String { enabled ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
    public func bold(_ s: String) -> String { wrap("1", s) }
    public func dim(_ s: String) -> String { wrap("2", s) }
    public func red(_ s: String) -> String { wrap("31", s) }
    public func green(_ s: String) -> String { wrap("32", s) }
    public func yellow(_ s: String) -> String { wrap("33", s) }
    public func magenta(_ s: String) -> String { wrap("35", s) }
    public func cyan(_ s: String) -> String { wrap("36", s) }
}
