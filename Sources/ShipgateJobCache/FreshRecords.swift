import Foundation
import ShipgateCache
import ShipgateModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The no-op fast path: jobs whose entry's files are known to be in the workspace already.
///
/// After a job is restored or stored, its record keeps the entry's key, the run that made it,
/// the job's outputs and the stat data (size, mtime and ctime in ns, inode, mode) of every file
/// of the entry as it is in the workspace. A later run that computes the same key for the job,
/// finds the entry in the local cache and every file with the same stat data has nothing to
/// restore: it does not read or decode the entry, compare files or rewrite the job's last key.
///
/// Contract: a record is only a shortcut, never a source of truth. It is used only for the same
/// key (which covers the job's definition, inputs and needs), only while the entry exists, and
/// only when every file's stat data is unchanged; anything else takes the full path, which
/// records again. Files changed less than `racyWindow` before recording are not recorded (a
/// write in the same timestamp tick as the stat would go unseen, git's "racy clean"); such a
/// job is recorded by a later run. Jobs with artifacts are never recorded (their manifest is
/// written from the entry). Saved once per run (`save`), atomically, only when something
/// changed; runs that race only lose records. Thread-safe.
public final class FreshRecords: @unchecked Sendable {
    public struct Record: Equatable, Sendable {
        public var key: String
        public var runID: String
        public var outputs: [String: String]
        public var files: [FileStat]
    }

    /// What `lstat` says of a file, as far as change detection goes.
    public struct FileStat: Equatable, Sendable {
        public var path: String
        public var size: Int64
        public var mtime: Int64
        public var ctime: Int64
        public var inode: UInt64
        public var mode: UInt32
    }

    public let path: String?
    private let racyWindowNs: Int64
    private let lock = NSLock()
    private var records: [String: Record] = [:]
    private var dirty = false

    /// Loads `path` when it exists; a damaged file is ignored (every job takes the full path).
    public init(path: String?, racyWindow: Double = 2) {
        self.path = path
        racyWindowNs = Int64(racyWindow * 1e9)
        guard let path, let data = FileManager.default.contents(atPath: path) else { return }
        records = Self.parse(data)
    }

    /// The record of `job` when it is for `key` and every file under `root` is unchanged.
    public func upToDate(job: String, key: String, root: String) -> Record? {
        guard let record = lock.withLock({ records[job] }), record.key == key else { return nil }
        for file in record.files {
            guard let now = Self.statOf(root: root, path: file.path), now == file else { return nil }
        }
        return record
    }

    /// Remembers that `files` (workspace-relative, under `root`) are the entry `key`'s files as
    /// they are now; forgets the job when one of them is missing or changed too recently.
    public func record(job: String, key: String, runID: String, outputs: [String: String], files: [String], root: String) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let cutoff = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) - racyWindowNs
        var stats: [FileStat] = []
        stats.reserveCapacity(files.count)
        for path in files {
            guard let st = Self.statOf(root: root, path: path), max(st.mtime, st.ctime) < cutoff else { return forget(job: job) }
            stats.append(st)
        }
        let record = Record(key: key, runID: runID, outputs: outputs, files: stats)
        lock.withLock {
            guard records[job] != record else { return }
            records[job] = record
            dirty = true
        }
    }

    public func forget(job: String) {
        lock.withLock {
            if records.removeValue(forKey: job) != nil { dirty = true }
        }
    }

    public func save() {
        guard let path else { return }
        let snapshot: [String: Record]? = lock.withLock {
            guard dirty else { return nil }
            dirty = false
            return records
        }
        guard let snapshot else { return }
        try? AtomicFile.write(Data(Self.format(snapshot).utf8), to: path)
    }

    static func statOf(root: String, path: String) -> FileStat? {
        var st = stat()
        guard lstat(root + "/" + path, &st) == 0 else { return nil }
        return FileStat(
            path: path, size: Int64(st.st_size), mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
            ctime: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec), inode: UInt64(st.st_ino), mode: UInt32(st.st_mode))
    }

    // MARK: - File format

    // One line per fact, fields separated by tabs, text fields escaped (`\\`, `\t`, `\n`):
    //   J job key runID        starts a job's record
    //   F size mtime ctime inode mode path
    //   O name value           one output
    static func format(_ records: [String: Record]) -> String {
        var text = ""
        for job in records.keys.sorted() {
            let r = records[job]!
            text += "J\t\(escape(job))\t\(r.key)\t\(escape(r.runID))\n"
            for f in r.files { text += "F\t\(f.size)\t\(f.mtime)\t\(f.ctime)\t\(f.inode)\t\(f.mode)\t\(escape(f.path))\n" }
            for name in r.outputs.keys.sorted() { text += "O\t\(escape(name))\t\(escape(r.outputs[name]!))\n" }
        }
        return text
    }

    static func parse(_ data: Data) -> [String: Record] {
        var records: [String: Record] = [:]
        var current: (String, Record)?
        var broken = false
        func close() {
            if let (job, record) = current, !broken { records[job] = record }
            current = nil
            broken = false
        }
        let bytes = [UInt8](data)
        for line in bytes.split(separator: 10) {
            let fields = line.split(separator: 9, omittingEmptySubsequences: false)
            let text = { (i: Int) in String(decoding: fields[i], as: UTF8.self) }
            let number = { (i: Int) in Int64(text(i)) }
            switch (fields[0].first, fields[0].count, fields.count) {
            case (UInt8(ascii: "J"), 1, 4):
                close()
                current = (unescape(text(1)[...]), Record(key: text(2), runID: unescape(text(3)[...]), outputs: [:], files: []))
            case (UInt8(ascii: "F"), 1, 7):
                guard let size = number(1), let mtime = number(2), let ctime = number(3), let inode = UInt64(text(4)), let mode = UInt32(text(5)) else {
                    broken = true
                    continue
                }
                current?.1.files.append(FileStat(path: unescape(text(6)[...]), size: size, mtime: mtime, ctime: ctime, inode: inode, mode: mode))
            case (UInt8(ascii: "O"), 1, 3):
                current?.1.outputs[unescape(text(1)[...])] = unescape(text(2)[...])
            default:
                broken = true
            }
        }
        close()
        return records
    }

    static func escape(_ s: String) -> String {
        guard s.contains(where: { $0 == "\\" || $0 == "\t" || $0 == "\n" || $0 == "\r" }) else { return s }
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func unescape(_ s: Substring) -> String {
        guard s.contains("\\") else { return String(s) }
        var out = ""
        var escaping = false
        for c in s.unicodeScalars {
            if escaping {
                switch c {
                case "t": out += "\t"
                case "n": out += "\n"
                case "r": out += "\r"
                default: out.unicodeScalars.append(c)
                }
                escaping = false
            } else if c == "\\" {
                escaping = true
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
