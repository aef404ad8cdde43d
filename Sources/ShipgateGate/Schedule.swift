import Foundation
import ShipgateModel

/// Change windows and freezes, evaluated at a given instant in their named time zone.
public enum ScheduleCheck {
    static func calendar(_ zone: String) -> Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
        return c
    }

    /// Whether `now` is inside the window; when not, the detail says when it next opens.
    public static func window(_ w: ChangeWindow, now: Date) -> GateRuleVerdict {
        let cal = calendar(w.timeZone)
        let parts = cal.dateComponents([.weekday, .hour, .minute], from: now)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        let day = Weekday.allCases[(parts.weekday ?? 1) - 1]
        let spec = "\(w.days.map(\.rawValue).joined(separator: ",")) \(w.hoursText) \(w.timeZone)"
        let local = describe(now, cal)
        if isOpen(w, weekday: day, minute: minute, previousDay: Weekday.allCases[((parts.weekday ?? 1) + 5) % 7]) {
            return .init(rule: "window", passed: true, detail: "inside the change window (\(spec)); now \(local)")
        }
        var detail = "outside the change window (\(spec)); now \(local)"
        if let next = nextOpening(w, after: now, cal) { detail += "; next opens \(describe(next, cal))" }
        return .init(rule: "window", passed: false, detail: detail)
    }

    static func isOpen(_ w: ChangeWindow, weekday: Weekday, minute: Int, previousDay: Weekday) -> Bool {
        if w.start < w.end { return w.days.contains(weekday) && minute >= w.start && minute < w.end }
        // Spans midnight: the evening part belongs to the listed day, the morning part to the day before.
        return (w.days.contains(weekday) && minute >= w.start) || (w.days.contains(previousDay) && minute < w.end)
    }

    static func nextOpening(_ w: ChangeWindow, after now: Date, _ cal: Calendar) -> Date? {
        let startOfToday = cal.startOfDay(for: now)
        for offset in 0...8 {
            guard let day = cal.date(byAdding: .day, value: offset, to: startOfToday),
                let open = cal.date(byAdding: .minute, value: w.start, to: day)
            else { continue }
            let weekday = Weekday.allCases[cal.component(.weekday, from: day) - 1]
            if open > now && w.days.contains(weekday) { return open }
        }
        return nil
    }

    public static func freeze(_ f: Freeze, defaultZone: String?, now: Date) -> GateRuleVerdict {
        let zone = f.timeZone ?? defaultZone ?? "UTC"
        let cal = calendar(zone)
        let c = cal.dateComponents([.year, .month, .day], from: now)
        let today = String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
        let what = "freeze \(f.from)..\(f.to)\(f.reason.map { " (\($0))" } ?? "")"
        if today >= f.from && today <= f.to {
            return .init(rule: "freeze", passed: false, detail: "in the \(what); today is \(today) in \(zone)")
        }
        return .init(rule: "freeze", passed: true, detail: "not in the \(what)")
    }

    static func describe(_ date: Date, _ cal: Calendar) -> String {
        let c = cal.dateComponents([.weekday, .year, .month, .day, .hour, .minute], from: date)
        let day = Weekday.allCases[(c.weekday ?? 1) - 1].rawValue.capitalized
        return String(format: "%@ %04d-%02d-%02d %02d:%02d %@", day, c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, cal.timeZone.identifier)
    }
}
