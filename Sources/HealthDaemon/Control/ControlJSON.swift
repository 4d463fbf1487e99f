#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// JSON bodies of the control socket's answers: an error object, a JSON string.
func error(_ message: String) -> String {
    "{\"error\":\(jsonString(message))}"
}

func jsonString(_ text: String) -> String {
    (try? JSONEncoder().encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}
