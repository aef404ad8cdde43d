#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Cuts a byte stream into lines with bounded memory.
///
/// Holds at most `maxLine` bytes: a longer line is emitted in pieces of `maxLine` bytes,
/// all but the last marked `continued`. `\r\n` counts as one line break. Bytes that are not
/// UTF-8 are shown as U+FFFD, so binary output can never break the reporters.
struct LineSplitter {
    let maxLine: Int
    private var pending: [UInt8] = []

    init(maxLine: Int = 64 * 1024) {
        self.maxLine = maxLine
        pending.reserveCapacity(256)
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (OutputLine) -> Void) {
        var start = 0
        let count = bytes.count
        while start < count {
            // The next newline, found by memchr (vectorized, and fast in a debug build too).
            let found = memchr(bytes.baseAddress! + start, 10, count - start)
            let i = found.map { UnsafeRawPointer($0) - UnsafeRawPointer(bytes.baseAddress!) } ?? count
            let room = maxLine - pending.count
            let chunkEnd = min(i, start + room)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<chunkEnd]))
            if chunkEnd < i || (chunkEnd == i && i == count && pending.count >= maxLine) {
                // Line too long: flush a piece and keep going on the same line.
                emit(OutputLine(text: Self.decode(pending), continued: true))
                pending.removeAll(keepingCapacity: true)
                start = chunkEnd
                continue
            }
            if i < count {  // found a newline
                emit(OutputLine(text: Self.decode(pending)))
                pending.removeAll(keepingCapacity: true)
                start = i + 1
            } else {
                start = count
            }
        }
    }

    /// Emits what is left after the stream ended without a final newline.
    mutating func finish(emit: (OutputLine) -> Void) {
        if !pending.isEmpty {
            emit(OutputLine(text: Self.decode(pending)))
            pending.removeAll()
        }
    }

    private static func decode(_ bytes: [UInt8]) -> String {
        var slice = bytes[...]
        if slice.last == 13 { slice = slice.dropLast() }
        return String(decoding: slice, as: UTF8.self)
    }
}
