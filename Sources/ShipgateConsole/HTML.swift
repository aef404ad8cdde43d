import Foundation
import ShipgateModel
import ShipgateState

/// Server-side HTML: escaping and the shared page frame. Pages are plain strings built from
/// escaped values; nothing is loaded from another origin (no scripts, fonts or images), and
/// the Content-Security-Policy the server sends forbids it.
enum HTML {
    /// Escapes text for element content and double-quoted attributes.
    static func esc(_ s: String) -> String { Markup.escape(s) }

    /// Percent-encodes a path segment or query value.
    static func url(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static func status(_ s: String) -> String {
        "<span class=\"st st-\(esc(s.replacingOccurrences(of: " ", with: "-")))\">\(esc(s))</span>"
    }

    static func short(_ commit: String?) -> String {
        guard let commit, !commit.isEmpty else { return "–" }
        return "<code title=\"\(esc(commit))\">\(esc(String(commit.prefix(12))))</code>"
    }

    static func duration(ms: Int64) -> String {
        if ms < 1000 { return "\(ms) ms" }
        let s = Double(ms) / 1000
        if s < 60 { return String(format: "%.1f s", s) }
        let m = Int(s) / 60
        if m < 60 { return "\(m) min \(Int(s) % 60) s" }
        return "\(m / 60) h \(m % 60) min"
    }

    static func age(_ iso: String?, now: Date) -> String {
        guard let iso, let d = StateTime.date(iso) else { return "–" }
        let s = max(0, Int(now.timeIntervalSince(d)))
        if s < 60 { return "\(s)s ago" }
        if s < 3600 { return "\(s / 60)m ago" }
        if s < 86_400 { return "\(s / 3600)h \(s % 3600 / 60)m ago" }
        return "\(s / 86_400)d ago"
    }

    static let css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
        header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:20px;align-items:center}
        header a{color:#cfd6e4;text-decoration:none}header a.on,header a:hover{color:#fff}
        header .brand{font-weight:700;color:#fff;margin-right:12px}header .me{margin-left:auto;display:flex;gap:10px;align-items:center}
        main{padding:18px 24px;max-width:1200px}h1{font-size:20px;margin:4px 0 14px}h2{font-size:16px;margin:18px 0 8px}
        table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:14px}
        th,td{text-align:left;padding:6px 9px;border-bottom:1px solid #e4e7ec;vertical-align:top}th{background:#eef1f5;font-weight:600}
        code{font:12px ui-monospace,Menlo,monospace;background:#eef1f5;padding:1px 4px;border-radius:3px}
        .card{background:#fff;border:1px solid #dfe3ea;border-radius:6px;padding:14px 16px;margin-bottom:16px}
        .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px}
        .st{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;background:#e4e7ec}
        .st-success,.st-cached,.st-pass,.st-approved,.st-ok{background:#d3f3dc;color:#17622f}
        .st-failed,.st-rollback-failed,.st-fail,.st-rejected,.st-BROKEN{background:#fbd9d9;color:#8a1c1c}
        .st-blocked,.st-waiting,.st-rolling-back,.st-running,.st-deploying,.st-verifying{background:#fdf0c8;color:#7a5400}
        .st-rolled-back,.st-interrupted,.st-cancelled,.st-skipped{background:#e7e3f6;color:#463a7a}
        .muted{color:#667085}.ok{color:#17622f}.bad{color:#8a1c1c}.warn{color:#7a5400}
        form.inline{display:inline}textarea,input[type=text],input[type=password]{font:inherit;padding:5px 7px;border:1px solid #c5ccd8;border-radius:4px}
        textarea{width:100%;box-sizing:border-box;min-height:54px}
        button{font:inherit;padding:5px 12px;border-radius:4px;border:1px solid #1d2330;background:#1d2330;color:#fff;cursor:pointer}
        button.reject,button.danger{background:#a32020;border-color:#a32020}button.link{background:none;border:none;color:#cfd6e4;padding:0}
        ul.rules{list-style:none;padding:0;margin:4px 0}ul.rules li{margin:2px 0}
        .flash{padding:9px 12px;border-radius:5px;margin-bottom:14px}.flash.ok{background:#d3f3dc}.flash.bad{background:#fbd9d9}
        details pre{background:#10141c;color:#d8dee9;padding:10px;overflow:auto;max-height:360px;font-size:12px}
        svg text{font:11px system-ui,sans-serif}
        """

    /// The frame every console page shares. `user` nil: the login page (no navigation).
    static func page(title: String, active: String = "", user: String? = nil, csrf: String? = nil, body: String) -> String {
        var nav = ""
        if let user {
            let links = [
                ("environments", "/environments", "Environments"), ("approvals", "/approvals", "Pending approvals"), ("runs", "/runs", "Runs"),
                ("audit", "/audit", "Audit"),
            ]
            nav = links.map { "<a href=\"\($0.1)\"\($0.0 == active ? " class=\"on\"" : "")>\($0.2)</a>" }.joined()
            nav += """
                <span class="me"><span>\(esc(user))</span><form class="inline" method="post" action="/logout">\
                <input type="hidden" name="csrf" value="\(esc(csrf ?? ""))"><button class="link" type="submit">Log out</button></form></span>
                """
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>\(esc(title)) · shipgate</title><style>\(css)</style></head>
            <body><header><span class="brand">shipgate</span>\(nav)</header><main>
            \(body)
            </main></body></html>
            """
    }
}
