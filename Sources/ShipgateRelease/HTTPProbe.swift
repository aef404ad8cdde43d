import Foundation
import ShipgateHTTP
import ShipgateModel
import ShipgateProcess

/// The built-in HTTP check: the SLIs an SRE team tracks (ratio of 2xx answers, p95 latency).
public enum HTTPProbe {
    public struct Outcome: Sendable, Equatable {
        public var passed: Bool
        public var ok: Int
        public var total: Int
        public var p95Ms: Int64
        public var summary: String
    }

    /// Stops early (failing) at `deadline`: verify runs under the job's timeout.
    public static func run(_ check: HTTPCheck, url text: String, cancellation: CancellationToken, deadline: ContinuousClock.Instant? = nil) async -> Outcome {
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https" else {
            return Outcome(passed: false, ok: 0, total: 0, p95Ms: 0, summary: "`\(text)` is not an http(s) URL")
        }
        let timeout = Duration.milliseconds(check.timeout.milliseconds)
        var latencies: [Int64] = []
        var ok = 0
        var codes: [String: Int] = [:]
        let clock = ContinuousClock()
        for i in 0..<check.requests {
            if cancellation.isCancelled { break }
            if let deadline, clock.now >= deadline { break }
            if i > 0, await !cancellation.sleep(check.interval.duration) { break }
            let start = clock.now
            let code = await HTTPGet.status(of: url, timeout: timeout, cancellation: cancellation)
            latencies.append((clock.now - start).milliseconds)
            let key = code.map(String.init) ?? "no answer"
            codes[key, default: 0] += 1
            if let code, (200..<300).contains(code) { ok += 1 }
        }
        let total = latencies.count
        let sorted = latencies.sorted()
        let p95 = sorted.isEmpty ? 0 : sorted[max(0, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)]
        let rate = total == 0 ? 0 : Double(ok) / Double(total)
        var passed = total == check.requests && rate >= check.successRate
        var summary = "\(ok)/\(total) answers 2xx (\(percent(rate)), need \(percent(check.successRate)))"
        if let limit = check.p95 {
            summary += ", p95 \(p95) ms (limit \(limit.milliseconds) ms)"
            if p95 > limit.milliseconds { passed = false }
        } else {
            summary += ", p95 \(p95) ms"
        }
        let others = codes.filter { !(Int($0.key).map { (200..<300).contains($0) } ?? false) }
        if !others.isEmpty { summary += "; other answers: " + others.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") }
        return Outcome(passed: passed, ok: ok, total: total, p95Ms: p95, summary: summary)
    }

    static func percent(_ r: Double) -> String {
        let v = (r * 1000).rounded() / 10
        return v == v.rounded() ? "\(Int(v)) %" : "\(v) %"
    }
}

/// One probe request: the status once the whole answer has arrived (redirects followed, the body
/// read and dropped), or nil when none came within `timeout` or the run was cancelled.
enum HTTPGet {
    static func status(of url: URL, timeout: Duration, cancellation: CancellationToken) async -> Int? {
        let task = Task { try? await HTTPRequests.get(url, timeout: timeout, followRedirects: true) }
        // The box lives until the request ends, so its identity is this request's alone.
        let box = Box(task)
        let observer = ObjectIdentifier(box)
        cancellation.onCancel(observer: observer) { task.cancel() }
        let code = await task.value
        cancellation.removeObserver(observer)
        return withExtendedLifetime(box) { code }
    }

    private final class Box: Sendable {
        let task: Task<Int?, Never>
        init(_ task: Task<Int?, Never>) { self.task = task }
    }
}
