/// `2026-11-22T23:35:57.170Z`: UTC, milliseconds rounded.
public func rfc3339(_ time: Double) -> String {
    let (seconds, milliseconds) = wholeSecondsAndMilliseconds(time)
    return String(CivilTime(seconds: seconds).description.dropLast()) + "." + milliseconds.zeroPadded(3) + "Z"
}

/// `2026-11-22T23:35:57Z`: UTC, the time rounded to milliseconds, then the fraction dropped (as
/// ISO8601DateFormatter wrote it).
package func rfc3339Seconds(_ time: Double) -> String {
    CivilTime(seconds: wholeSecondsAndMilliseconds(time).seconds).description
}

private func wholeSecondsAndMilliseconds(_ time: Double) -> (seconds: Int64, milliseconds: Int64) {
    let milliseconds = Int64((time * 1000).rounded())
    let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
    return (seconds, milliseconds - seconds * 1000)
}

/// The time an RFC 3339 text names (`2026-12-01T10:00:00Z`, `2026-12-01T11:00:00.5+01:00`), in seconds since
/// 1970; nil when it is not one.
package func parseRFC3339(_ text: String) -> Double? {
    var scanner = DigitScanner(text.utf8)
    guard let year = scanner.number(digits: 4), scanner.skip("-"), let month = scanner.number(digits: 2), scanner.skip("-"),
        let day = scanner.number(digits: 2), scanner.skip("T") || scanner.skip("t"),
        let hour = scanner.number(digits: 2), scanner.skip(":"), let minute = scanner.number(digits: 2), scanner.skip(":"),
        let second = scanner.number(digits: 2)
    else { return nil }
    guard (1...12).contains(month), (1...CivilTime.days(inMonth: month, year: year)).contains(day), hour < 24, minute < 60,
        second <= 60
    else { return nil }
    var fraction = 0.0
    if scanner.skip(".") {
        var scale = 0.1
        var count = 0
        while let digit = scanner.digit() {
            fraction += Double(digit) * scale
            scale /= 10
            count += 1
        }
        guard count > 0 else { return nil }
    }
    var offset = 0
    if scanner.skip("Z") || scanner.skip("z") {
        offset = 0
    } else if let sign = scanner.skip("+") ? 1 : scanner.skip("-") ? -1 : nil {
        guard let hours = scanner.number(digits: 2), scanner.skip(":"), let minutes = scanner.number(digits: 2), hours < 24,
            minutes < 60
        else { return nil }
        offset = sign * (hours * 3600 + minutes * 60)
    } else {
        return nil
    }
    guard scanner.atEnd else { return nil }
    let days = CivilTime.daysSince1970(year: year, month: month, day: day)
    let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second - offset)
    return Double(seconds) + fraction
}

/// A UTC calendar date and time of day, from seconds since 1970 (proleptic Gregorian calendar).
struct CivilTime: CustomStringConvertible {
    var year: Int64
    var month: Int
    var day: Int
    var secondOfDay: Int

    init(seconds: Int64) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        self.secondOfDay = Int(seconds - days * 86_400)
        // Howard Hinnant's civil_from_days.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        self.day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        self.month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        self.year = yearOfEra + era * 400 + (self.month <= 2 ? 1 : 0)
    }

    /// `2026-11-22T23:35:57Z`
    var description: String {
        "\(self.year.zeroPadded(4))-\(self.month.zeroPadded(2))-\(self.day.zeroPadded(2))T"
            + "\((self.secondOfDay / 3600).zeroPadded(2)):\((self.secondOfDay / 60 % 60).zeroPadded(2)):"
            + "\((self.secondOfDay % 60).zeroPadded(2))Z"
    }

    /// Howard Hinnant's days_from_civil.
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int64 {
        let year = Int64(month <= 2 ? year - 1 : year)
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = Int64((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1)
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func days(inMonth month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// Reads fixed-width decimal fields and separators off UTF-8 text.
private struct DigitScanner {
    let bytes: [UInt8]
    var position = 0

    init(_ text: String.UTF8View) {
        self.bytes = Array(text)
    }

    var atEnd: Bool { self.position == self.bytes.count }

    mutating func digit() -> Int? {
        guard self.position < self.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.position]) else {
            return nil
        }
        defer { self.position += 1 }
        return Int(self.bytes[self.position] - UInt8(ascii: "0"))
    }

    mutating func number(digits: Int) -> Int? {
        var value = 0
        for _ in 0..<digits {
            guard let digit = self.digit() else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard self.position < self.bytes.count, self.bytes[self.position] == UInt8(character.value) else { return false }
        self.position += 1
        return true
    }
}
