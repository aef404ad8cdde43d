import Foundation
import ShipgateGate
import ShipgateModel
import ShipgateRelease
import ShipgateState

/// The console's pages, as HTML strings. `csrf` is the session's token, echoed by every form.
extension Console {
    func environmentsPage() async throws -> String {
        let e = HTML.esc
        let t = now()
        var html = "<h1>Environments</h1><div class=\"grid\">"
        for env in try await environments() {
            html += "<div class=\"card\"><h2>\(e(env.name))\(env.protected ? " <span class=\"muted\">· protected</span>" : "")</h2>"
            if let action = env.live.manualAction(environment: env.name) {
                html += "<p class=\"flash bad\">⚠ Rollback FAILED: \(e(action))</p>"
            }
            if let c = env.current {
                html += """
                    <p>\(env.live.needsManualAction ? "Live (rollback failed)" : "Current"): <b>\(e(c.version ?? "–"))</b> \(HTML.short(c.commitID))<br>\
                    <span class="muted">release \(e(c.release)), \(HTML.age(c.finishedAt ?? c.startedAt, now: t)), \
                    approved by \(e(c.approvedBy.isEmpty ? "nobody (no approval needed)" : c.approvedBy)), run <a href="/runs/\(HTML.url(c.runID))">\(e(c.runID))</a></span></p>
                    """
            } else {
                html += "<p class=\"muted\">Nothing deployed yet.</p>"
            }
            for l in env.locks {
                html +=
                    "<p class=\"warn\">🔒 deploying: run <a href=\"/runs/\(HTML.url(l.runID))\">\(e(l.runID))</a> (\(e(l.job)), \(e(l.actor))) since \(e(HTML.age(l.acquiredAt, now: t)))</p>"
            }
            for v in env.schedule {
                html += "<p class=\"\(v.passed ? "ok" : "bad")\">\(v.passed ? "✓" : "✗") \(e(v.rule)): \(e(v.detail))</p>"
            }
            if env.pending > 0 { html += "<p><a href=\"/approvals\">\(env.pending) deploy\(env.pending == 1 ? "" : "s") waiting for approval</a></p>" }
            if !env.recent.isEmpty {
                html += "<table><tr><th>Release</th><th>Version</th><th>Status</th><th>When</th></tr>"
                for d in env.recent {
                    html +=
                        "<tr><td><code>\(e(String(d.release.suffix(20))))</code></td><td>\(e(d.version ?? "–"))</td><td>\(HTML.status(d.status))</td><td>\(HTML.age(d.startedAt, now: t))</td></tr>"
                }
                html += "</table>"
            }
            html += "<p><a href=\"/environments/\(HTML.url(env.name))/history\">History and rollback →</a></p></div>"
        }
        return html + "</div>"
    }

    func approvalsPage(user: ConsoleUser, csrf: String, flash: String? = nil) async throws -> String {
        let e = HTML.esc
        let t = now()
        var html = "<h1>Pending approvals</h1>"
        if let flash { html += flash }
        if signer == nil { html += "<p class=\"flash bad\">This console has no signing key (`serve --key`): it can show, not approve.</p>" }
        let items = try await pending()
        if items.isEmpty { html += "<p class=\"muted\">No deploy is waiting for approval.</p>" }
        for p in items {
            let g = p.gate
            html +=
                "<div class=\"card\"><h2>\(e(g.environment)) ← \(e(p.run.version ?? "–")) <span class=\"muted\">run <a href=\"/runs/\(HTML.url(p.run.id))\">\(e(p.run.id))</a></span></h2>"
            html += """
                <table><tr><th>Commit</th><td>\(HTML.short(g.commitID)) \(e(p.git["subject"] ?? ""))</td><th>Author</th><td>\(e(p.git["author"] ?? "–"))</td></tr>
                <tr><th>Started by</th><td>\(e(p.run.actor))</td><th>Branch</th><td>\(e(p.run.branch ?? "–"))</td></tr>
                <tr><th>Waiting since</th><td>\(e(HTML.age(g.requestedAt, now: t)))</td><th>Now in \(e(g.environment))</th>\
                <td>\(p.current.map { "\(e($0.version ?? "–")) \(HTML.short($0.commitID))" } ?? "nothing yet")</td></tr></table>
                """
            // Rules, live.
            if let d = p.decision {
                html += "<h3>Rules</h3><ul class=\"rules\">"
                for r in d.rules { html += "<li class=\"\(r.passed ? "ok" : "bad")\">\(r.passed ? "✓" : "✗") <b>\(e(r.rule))</b> \(e(r.detail))</li>" }
                html += "</ul>"
                for r in d.refused { html += "<p class=\"muted\">Not counted: \(e(r.summary)): \(e(r.reason))</p>" }
            } else {
                html += "<h3>Rules (as recorded)</h3>\(RunTimeline.rules(g))"
            }
            if !p.approvals.isEmpty {
                html += "<h3>Decisions so far</h3><ul>"
                for shown in p.approvals {
                    let a = shown.statement
                    let via = a.signedBy.map { " via console \(e($0))" } ?? ""
                    let who: String
                    if let problem = shown.problem {
                        // Not verified against the trusted keyring: the name is only a claim.
                        who =
                            "<b class=\"bad\">unverified statement</b> claiming \(e(a.approver)) (\(e(a.decision.rawValue))), not counted: \(e(problem.description))"
                    } else {
                        who = "\(a.decision == .approve ? "approved" : "<b class=\"bad\">rejected</b>") by <b>\(e(a.approver))</b>\(via)"
                    }
                    html += "<li>\(who), \(e(HTML.age(a.issuedAt, now: t)))\(a.comment.map { ": “\(e($0))”" } ?? "")</li>"
                }
                html += "</ul>"
            }
            // What ships.
            html += "<h3>Changes since \(p.current.map { e($0.version ?? $0.release) } ?? "the beginning")</h3>"
            if p.commits.isEmpty {
                html += "<p class=\"muted\">No commit information (same commit, or the repository is not here).</p>"
            } else {
                html += "<ul>" + p.commits.map { "<li>\(HTML.short($0.id)) \(e($0.subject)) <span class=\"muted\">\(e($0.author))</span></li>" }.joined()
                html += p.commitsTruncated ? "<li class=\"muted\">… more commits</li></ul>" : "</ul>"
            }
            if let paths = p.paths, !paths.isEmpty {
                html += "<details><summary>\(paths.count) changed path\(paths.count == 1 ? "" : "s")</summary><ul>"
                html += paths.prefix(300).map { "<li><code>\(e($0))</code></li>" }.joined() + (paths.count > 300 ? "<li>…</li>" : "") + "</ul></details>"
            }
            html += "<h3>Jobs</h3><table><tr><th>Job</th><th>Status</th><th>Duration</th></tr>"
            for j in p.jobs.sorted(by: { $0.id < $1.id }) {
                html += "<tr><td><code>\(e(j.id))</code></td><td>\(HTML.status(j.status.rawValue))</td><td>\(HTML.duration(ms: j.durationMs))</td></tr>"
            }
            html += "</table>"
            if !p.findings.isEmpty {
                html +=
                    "<h3>Scan findings</h3><ul>" + p.findings.map { "<li><code>\(e($0.job))</code> \(e($0.file)): <b>\(e($0.summary))</b></li>" }.joined()
                    + "</ul>"
            }
            if !p.artifacts.isEmpty {
                html += "<h3>Artifacts (the approval binds these digests)</h3><ul>"
                html += p.artifacts.sorted { $0.key < $1.key }.map { "<li><code>\(e($0.key))</code> <code>\(e($0.value))</code></li>" }.joined() + "</ul>"
            }
            // Decide.
            if signer != nil {
                let selfApproval = p.run.actor == user.approver
                html += """
                    <form method="post" action="/approvals"><input type="hidden" name="csrf" value="\(e(csrf))">\
                    <input type="hidden" name="run" value="\(e(p.run.id))"><input type="hidden" name="environment" value="\(e(g.environment))">
                    <label>Comment (signed with your decision)<textarea name="comment"></textarea></label>
                    <p><button type="submit" name="decision" value="approve"\(selfApproval ? " disabled title=\"you started this run\"" : "")>Approve as \(e(user.approver))</button> \
                    <button class="reject" type="submit" name="decision" value="reject">Reject</button></p></form>
                    """
            }
            html += "</div>"
        }
        return html
    }

    func historyPage(environment: String, csrf: String) async throws -> String {
        let e = HTML.esc
        let t = now()
        let rows = try await store.deployments(environment: environment, limit: 100)
        let live = try await LiveRelease.of(environment: environment, in: store)
        var html = "<h1>History of \(e(environment))</h1>"
        if let action = live.manualAction(environment: environment) { html += "<p class=\"flash bad\">⚠ Rollback FAILED: \(e(action))</p>" }
        if rollbacks.active > 0 { html += "<p class=\"flash ok\">A rollback started from this console is running.</p>" }
        html += "<table><tr><th>Release</th><th>Version</th><th>Commit</th><th>Status</th><th>Approved by</th><th>By</th><th>Started</th><th></th></tr>"
        for d in rows {
            var action = ""
            if d.isGood, !live.isLive(d) {
                action = "<a href=\"/environments/\(HTML.url(environment))/rollback?to=\(HTML.url(d.release))\">Roll back to this</a>"
            }
            html += """
                <tr><td><code>\(e(d.release))</code>\(live.isLive(d) ? " <b>\(e(live.marker))</b>" : "")\(d.rollbackOf.map { "<br><span class=\"muted\">rollback to \(e($0))</span>" } ?? "")</td>\
                <td>\(e(d.version ?? "–"))</td><td>\(HTML.short(d.commitID))</td><td>\(HTML.status(d.status))\(d.detail.map { "<br><span class=\"muted\">\(e($0))</span>" } ?? "")</td>\
                <td>\(e(d.approvedBy))</td><td>\(e(d.actor))</td><td>\(e(HTML.age(d.startedAt, now: t)))</td><td>\(action)</td></tr>
                """
        }
        if rows.isEmpty { html += "<tr><td colspan=\"8\" class=\"muted\">No release yet.</td></tr>" }
        return html + "</table>"
    }

    func rollbackConfirmPage(environment: String, to release: String, csrf: String) async throws -> String {
        let e = HTML.esc
        guard let target = try await store.deployment(release), target.environment == environment else {
            return "<h1>Roll back \(e(environment))</h1><p class=\"flash bad\">No release \(e(release)) in \(e(environment)).</p>"
        }
        let current = try await LiveRelease.of(environment: environment, in: store).release
        return """
            <h1>Roll back \(e(environment))</h1><div class="card">
            <p>From <b>\(e(current?.version ?? "–"))</b> \(HTML.short(current?.commitID)) (release \(e(current?.release ?? "–")))<br>
            to <b>\(e(target.version ?? "–"))</b> \(HTML.short(target.commitID)) (release \(e(target.release)))</p>
            <p>This runs the deploy job's <code>rollback</code> steps with the retained artifacts of the target release, takes the \
            environment's lock and is recorded in the audit log under your name.</p>
            <form method="post" action="/rollbacks"><input type="hidden" name="csrf" value="\(e(csrf))">\
            <input type="hidden" name="environment" value="\(e(environment))"><input type="hidden" name="to" value="\(e(release))">
            <label>Reason (required)<textarea name="reason" required></textarea></label>
            <p><button class="danger" type="submit">Roll back \(e(environment)) now</button> <a href="/environments/\(HTML.url(environment))/history">Cancel</a></p>
            </form></div>
            """
    }

    func runsPage(page: Int) async throws -> String {
        let e = HTML.esc
        let t = now()
        let size = 50
        let rows = try await store.runs(limit: size + 1, offset: page * size)
        var html = "<h1>Runs</h1><table><tr><th>Run</th><th>Pipeline</th><th>Status</th><th>Version</th><th>Commit</th><th>Actor</th><th>Started</th></tr>"
        for r in rows.prefix(size) {
            html += """
                <tr><td><a href="/runs/\(HTML.url(r.id))"><code>\(e(r.id))</code></a></td><td>\(e(r.pipeline))</td><td>\(HTML.status(r.status))</td>\
                <td>\(e(r.version ?? "–"))</td><td>\(HTML.short(r.commitID))</td><td>\(e(r.actor))</td><td>\(e(HTML.age(r.startedAt, now: t)))</td></tr>
                """
        }
        html += "</table><p>"
        if page > 0 { html += "<a href=\"/runs?page=\(page - 1)\">← newer</a> " }
        if rows.count > size { html += "<a href=\"/runs?page=\(page + 1)\">older →</a>" }
        return html + "</p>"
    }

    func auditPage(environment: String?, limit: Int = 200) async throws -> String {
        let e = HTML.esc
        let result = try await audit.check(store, now: now())
        let v = result.verification
        var html = "<h1>Audit log</h1>"
        html +=
            v.problems.isEmpty
            ? "<p class=\"flash ok\">✓ The chain of \(v.entries) entries verifies (head <code>\(e(String(v.head.prefix(16))))…</code>, checked \(e(HTML.age(StateTime.string(result.at), now: now()))))."
                + " Compare the head with one recorded elsewhere (<code>shipgate audit verify --head HASH</code>) to detect a deleted tail.</p>"
            : "<div class=\"flash bad\"><b>✗ The audit chain does NOT verify:</b><ul>" + v.problems.prefix(20).map { "<li>\(e($0))</li>" }.joined()
                + "</ul></div>"
        let rows = try await store.latestAudit(limit: limit, environment: environment)
        html += "<table><tr><th>#</th><th>When</th><th>Kind</th><th>Actor</th><th>Env</th><th>Run</th><th>Detail</th></tr>"
        for r in rows {
            html += """
                <tr><td>\(r.seq)</td><td>\(e(r.at))</td><td>\(e(r.kind))</td><td>\(e(r.actor))</td><td>\(e(r.environment ?? ""))</td>\
                <td>\(r.runID.map { "<a href=\"/runs/\(HTML.url($0))\">\(e($0))</a>" } ?? "")</td><td><code>\(e(r.detail))</code></td></tr>
                """
        }
        return html + "</table>"
    }

    static func loginPage(error: String? = nil, csrf: String) -> String {
        HTML.page(
            title: "Log in",
            body: """
                <div class="card" style="max-width:360px"><h1>Log in</h1>\(error.map { "<p class=\"flash bad\">\(HTML.esc($0))</p>" } ?? "")
                <form method="post" action="/login"><input type="hidden" name="csrf" value="\(HTML.esc(csrf))">
                <p><label>User<br><input type="text" name="user" autocomplete="username" required autofocus></label></p>
                <p><label>Password<br><input type="password" name="password" autocomplete="current-password" required></label></p>
                <p><button type="submit">Log in</button></p></form></div>
                """)
    }
}
