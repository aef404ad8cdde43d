import Crypto
import ShipgateModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// SHA-256 helpers: hex digests of bytes and of files, read in 1 MiB blocks.
public enum Digest {
    public static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 { Hex.string(digest) }

    public static func sha256(_ bytes: some Sequence<UInt8>) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return hex(hasher.finalize())
    }

    public static func sha256(_ text: String) -> String { sha256(Array(text.utf8)) }

    public struct FileError: Error, CustomStringConvertible {
        public var path: String
        public var errno: Int32
        public var description: String { "\(path): \(String(cString: strerror(errno)))" }
    }

    /// Digest and size of a regular file. A symbolic link is hashed as its target text
    /// (`symlink:` + target), so links can be inputs without being followed.
    public static func file(_ path: String) throws(FileError) -> (digest: String, size: Int64) {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw FileError(path: path, errno: errno) }
        if (st.st_mode & S_IFMT) == S_IFLNK {
            let target = try linkTarget(path)
            return (sha256("symlink:" + target), Int64(target.utf8.count))
        }
        var hasher = SHA256()
        let total = try readChunks(path) { hasher.update(bufferPointer: $0) }
        return (hex(hasher.finalize()), total)
    }

    /// Reads a file in 1 MiB blocks, handing each to `body`; returns the number of bytes read.
    static func readChunks(_ path: String, _ body: (UnsafeRawBufferPointer) -> Void) throws(FileError) -> Int64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, errno: errno) }
        defer { close(fd) }
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(fd, buffer.baseAddress, size)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, errno: errno)
            }
            if n == 0 { return total }
            body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
        }
    }

    public static func linkTarget(_ path: String) throws(FileError) -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buffer, 4096)
        guard n >= 0 else { throw FileError(path: path, errno: errno) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Digest {
    /// The git blob id of a file: SHA-1 over `blob <size>\0` and the content (for a symlink,
    /// its target), exactly what `git hash-object` prints. Used to identify cache inputs, so a
    /// key is the same whether the id came from git's index or from reading the file.
    public static func gitBlobID(_ path: String) throws(FileError) -> String {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw FileError(path: path, errno: errno) }
        var hasher = Insecure.SHA1()
        if (st.st_mode & S_IFMT) == S_IFLNK {
            let target = Array(try linkTarget(path).utf8)
            hasher.update(data: Array("blob \(target.count)\u{0}".utf8))
            hasher.update(data: target)
            return hex(hasher.finalize())
        }
        hasher.update(data: Array("blob \(st.st_size)\u{0}".utf8))
        let total = try readChunks(path) { hasher.update(bufferPointer: $0) }
        // A file that changed size while being read would give a wrong id: report it.
        guard total == Int64(st.st_size) else { throw FileError(path: path, errno: EAGAIN) }
        return hex(hasher.finalize())
    }
}

/// SHA-256 over bytes given piece by piece (a copy hashed as it is written).
public struct SHA256Stream {
    private var hasher = SHA256()
    public init() {}
    public mutating func update(_ bytes: some Collection<UInt8>) { hasher.update(data: Array(bytes)) }
    public func finalize() -> String { Digest.hex(hasher.finalize()) }
}
