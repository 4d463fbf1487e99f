/// A fixture could not do what a test asked (a process failed, a server did not start, a wait ran out).
public struct TestFixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
