import Foundation
import ShipgateCache
import ShipgateModel
import ShipgatePlanning

/// `junit: [PATTERN]`: the JUnit XML reports a job's tools wrote, read after its steps.
extension JobExecutor {
    /// Reads the reports `job.junit` matches in `root` that were written since `since` (a
    /// report left by an earlier run is not this run's result), into `result.tests` and the run
    /// directory's `tests/<job>.json`, and prints the counts and the first failures. Reports
    /// never change the job's status: the tool's exit code already did.
    func readTestReports(_ job: PlannedJob, root: String, since: Date, log: JobLog, result: inout JobResult) {
        let files = FileWalker(root: root).files(matching: PathFilter(job.junit))
        var cases: [TestCase] = []
        var read: [String] = []
        var unreadable: [String] = []
        var stale = 0
        for file in files {
            let path = root + "/" + file
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let modified = attributes[.modificationDate] as? Date
            else { continue }
            // File systems keep whole seconds at worst: a report written in the job's first
            // second still counts.
            guard modified >= since.addingTimeInterval(-1) else {
                stale += 1
                continue
            }
            do {
                guard let data = FileManager.default.contents(atPath: path) else { throw JUnitReader.Invalid(description: "cannot read it") }
                cases += try JUnitReader.read(String(decoding: data, as: UTF8.self)).map(masked)
                read.append(file)
            } catch {
                unreadable.append("\(file): \(error)")
            }
        }
        var summary = JUnitReader.summarize(cases, files: read)
        summary.unreadable = unreadable
        for problem in unreadable { emitLine(job.id, "warning: junit report \(masker(problem))", log) }
        if read.isEmpty {
            let why = stale > 0 ? "\(stale) matching file\(stale == 1 ? " was" : "s were") not written by this run" : "no file matched"
            emitLine(job.id, "warning: `junit` (\(job.junit.joined(separator: ", "))): no report read; \(why)", log)
            return
        }
        result.tests = summary
        let path = options.runDirectory.testsPath(for: job.id)
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if let data = try? JSONEncoder().encode(cases) { FileManager.default.createFile(atPath: path, contents: data) }
        emitLine(job.id, "tests: \(summary.text) (\(read.joined(separator: ", ")))", log)
        for failure in summary.failed { emitLine(job.id, "  ✗ \(failure)", log) }
        let more = summary.failures + summary.errors - summary.failed.count
        if more > 0 { emitLine(job.id, "  … and \(more) more", log) }
    }

    private func masked(_ c: TestCase) -> TestCase {
        var c = c
        c.name = masker(c.name)
        c.classname = masker(c.classname)
        c.message = c.message.map { masker($0) }
        return c
    }
}
