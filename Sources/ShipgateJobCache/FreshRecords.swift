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
        /// The entry file's inode and size when recorded: an entry rewritten since (atomic
        /// writes give a new inode), truncated or replaced does not match.
        public var entryInode: UInt64
        public var entrySize: Int64
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
    /// This run's records and forgets (nil), applied to the file as it is when saving, so a
    /// concurrent run's changes are not overwritten with what this run loaded.
    private var changes: [String: Record?] = [:]

    /// Loads `path` when it exists; a damaged file is ignored (every job takes the full path).
    public init(path: String?, racyWindow: Double = 2) {
        self.path = path
        racyWindowNs = Int64(racyWindow * 1e9)
        guard let path, let data = FileManager.default.contents(atPath: path) else { return }
        records = Self.parse(data)
    }

    /// The record of `job` when it is for `key`, the entry at `entryPath` is the one recorded,
    /// and every file under `root` is unchanged.
    public func upToDate(job: String, key: String, root: String, entryPath: String) -> Record? {
        guard let record = lock.withLock({ records[job] }), record.key == key else { return nil }
        var st = stat()
        guard lstat(entryPath, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, UInt64(st.st_ino) == record.entryInode, Int64(st.st_size) == record.entrySize
        else { return nil }
        for file in record.files {
            guard let now = Self.statOf(root: root, path: file.path), now == file else { return nil }
        }
        return record
    }

    /// Remembers that `files` (workspace-relative, under `root`) hold the content of entry
    /// `key` (at `entryPath`) now. Each file is verified, not assumed: its stat data is taken
    /// before and after its content is checked against the entry (`digest` of a regular file,
    /// through the stat cache; the target of a link), and must be the same both times, older
    /// than the racy window. Anything else forgets the job.
    public func record(
        job: String, key: String, runID: String, outputs: [String: String], files: [FileEntry], root: String, entryPath: String,
        digest: (String) -> String?
    ) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let cutoff = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) - racyWindowNs
        var entry = stat()
        guard lstat(entryPath, &entry) == 0, (entry.st_mode & S_IFMT) == S_IFREG else { return forget(job: job) }
        var stats: [FileStat] = []
        stats.reserveCapacity(files.count)
        for file in files {
            guard let before = Self.statOf(root: root, path: file.path), max(before.mtime, before.ctime) < cutoff else { return forget(job: job) }
            let matches: Bool
            switch file.kind {
            case .file:
                matches = (before.mode & UInt32(S_IFMT)) == UInt32(S_IFREG) && before.mode & 0o7777 == file.mode & 0o7777 && digest(file.path) == file.digest
            case .symlink:
                matches = (before.mode & UInt32(S_IFMT)) == UInt32(S_IFLNK) && (try? Digest.linkTarget(root + "/" + file.path)) == file.target
            }
            guard matches, Self.statOf(root: root, path: file.path) == before else { return forget(job: job) }
            stats.append(before)
        }
        let record = Record(
            key: key, runID: runID, entryInode: UInt64(entry.st_ino), entrySize: Int64(entry.st_size), outputs: outputs, files: stats)
        lock.withLock {
            guard records[job] != record else { return }
            records[job] = record
            changes[job] = record
        }
    }

    public func forget(job: String) {
        lock.withLock {
            if records.removeValue(forKey: job) != nil || changes[job] != nil { changes[job] = .some(nil) }
        }
    }

    /// Applies this run's changes to the file as it is now and writes it atomically; nothing
    /// when there are none. Two runs saving at once may lose one's changes (a slower next run),
    /// never make a record true that was not: every use checks the entry and the files.
    public func save() {
        guard let path else { return }
        let pending: [String: Record?] = lock.withLock {
            defer { changes = [:] }
            return changes
        }
        guard !pending.isEmpty else { return }
        var current = FileManager.default.contents(atPath: path).map(Self.parse) ?? [:]
        for (job, change) in pending {
            if let change { current[job] = change } else { current.removeValue(forKey: job) }
        }
        try? AtomicFile.write(Data(Self.format(current).utf8), to: path)
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
    //   J job key runID entryInode entrySize   starts a job's record
    //   F size mtime ctime inode mode path
    //   O name value           one output
    static func format(_ records: [String: Record]) -> String {
        var text = ""
        for job in records.keys.sorted() {
            let r = records[job]!
            text += "J\t\(escape(job))\t\(r.key)\t\(escape(r.runID))\t\(r.entryInode)\t\(r.entrySize)\n"
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
            case (UInt8(ascii: "J"), 1, 6):
                close()
                guard let inode = UInt64(text(4)), let size = number(5) else {
                    broken = true
                    continue
                }
                current = (
                    unescape(text(1)[...]),
                    Record(key: text(2), runID: unescape(text(3)[...]), entryInode: inode, entrySize: size, outputs: [:], files: [])
                )
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
