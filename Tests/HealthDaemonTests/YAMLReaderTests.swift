import Foundation
import Testing

@testable import HealthDaemon

@Suite("YAML reader")
struct YAMLReaderTests {
    static func plain(_ text: String) -> YAMLNode { .scalar(.init(text)) }
    static func single(_ text: String) -> YAMLNode { .scalar(.init(text, style: .singleQuoted)) }
    static func double(_ text: String) -> YAMLNode { .scalar(.init(text, style: .doubleQuoted)) }
    static func literal(_ text: String) -> YAMLNode { .scalar(.init(text, style: .literal)) }
    static func folded(_ text: String) -> YAMLNode { .scalar(.init(text, style: .folded)) }
    static func seq(_ items: YAMLNode...) -> YAMLNode { .sequence(items) }
    static func map(_ pairs: KeyValuePairs<String, YAMLNode>) -> YAMLNode {
        .mapping(.init(pairs.map { .init(key: plain($0.key), value: $0.value) }))
    }

    struct TreeCase: Sendable, CustomTestStringConvertible {
        var yaml: String
        var tree: YAMLNode?
        var testDescription: String { YAMLSyntaxError.quoted(self.yaml) }
    }

    static let trees: [TreeCase] = [
        // Documents
        TreeCase(yaml: "", tree: nil),
        TreeCase(yaml: "# only a comment\n\n   \n", tree: nil),
        TreeCase(yaml: "---\n", tree: plain("")),
        TreeCase(yaml: "--- 5\n", tree: plain("5")),
        TreeCase(yaml: "--- # comment\na: 1\n...\n", tree: map(["a": plain("1")])),
        TreeCase(yaml: "\u{FEFF}a: 1\r\nb: 2\r\n", tree: map(["a": plain("1"), "b": plain("2")])),
        TreeCase(yaml: "a: 1\rb: 2", tree: map(["a": plain("1"), "b": plain("2")])),
        TreeCase(yaml: "just a scalar\n", tree: plain("just a scalar")),
        // Block mappings
        TreeCase(yaml: "a: 1\nb: two\n", tree: map(["a": plain("1"), "b": plain("two")])),
        TreeCase(
            yaml: "control:\n  socket: /run/x.sock\n  mode: \"0660\"\nlog:\n    level: info\n",
            tree: map(["control": map(["socket": plain("/run/x.sock"), "mode": double("0660")]), "log": map(["level": plain("info")])])),
        TreeCase(yaml: "a:\nb: ~\nc:   # nothing\n", tree: map(["a": plain(""), "b": plain("~"), "c": plain("")])),
        TreeCase(yaml: "\"a b\": 1\n'c': 2\n", tree: .mapping(.init([.init(key: double("a b"), value: plain("1")), .init(key: single("c"), value: plain("2"))]))),
        TreeCase(yaml: "url: http://h:80/p\nb: c:d\ne: x#y # comment\n", tree: map(["url": plain("http://h:80/p"), "b": plain("c:d"), "e": plain("x#y")])),
        TreeCase(yaml: "name: café ☕\n", tree: map(["name": plain("café ☕")])),
        TreeCase(yaml: "  a: 1\n  b: 2\n", tree: map(["a": plain("1"), "b": plain("2")])),
        // Block sequences
        TreeCase(yaml: "- a\n- b\n", tree: seq(plain("a"), plain("b"))),
        TreeCase(yaml: "key:\n- a\n- b\nnext: 1\n", tree: map(["key": seq(plain("a"), plain("b")), "next": plain("1")])),
        TreeCase(yaml: "key:   # comment\n  - a\n\n  - b\n", tree: map(["key": seq(plain("a"), plain("b"))])),
        TreeCase(
            yaml: "targets:\n  - name: a\n    tls:\n      enabled: true\n  - name: b\n",
            tree: map(["targets": seq(map(["name": plain("a"), "tls": map(["enabled": plain("true")])]), map(["name": plain("b")]))])),
        TreeCase(
            yaml: "hooks:\n- on: [down]\n  run:\n  - /bin/true\n  timeout: 5s\n",
            tree: map(["hooks": seq(map(["on": seq(plain("down")), "run": seq(plain("/bin/true")), "timeout": plain("5s")]))])),
        TreeCase(yaml: "- - a\n  - b\n- c\n", tree: seq(seq(plain("a"), plain("b")), plain("c"))),
        TreeCase(yaml: "-\n- \n-   x\n", tree: seq(plain(""), plain(""), plain("x"))),
        TreeCase(yaml: "-   a: 1\n    b: 2\n", tree: seq(map(["a": plain("1"), "b": plain("2")]))),
        TreeCase(yaml: "- \"q\": 1\n", tree: seq(.mapping(.init([.init(key: double("q"), value: plain("1"))])))),
        // Flow collections
        TreeCase(
            yaml: "allowed_ports: [azure-managed, 6379, \"7000-7099\"]\n",
            tree: map(["allowed_ports": seq(plain("azure-managed"), plain("6379"), double("7000-7099"))])),
        TreeCase(
            yaml: "{a: 1, b: [x, y], c: {d: e}, 'f': \"g\"}",
            tree: .mapping(.init([
                .init(key: plain("a"), value: plain("1")), .init(key: plain("b"), value: seq(plain("x"), plain("y"))),
                .init(key: plain("c"), value: map(["d": plain("e")])), .init(key: single("f"), value: double("g")),
            ]))),
        TreeCase(yaml: "[a, b,]", tree: seq(plain("a"), plain("b"))),
        TreeCase(yaml: "[]", tree: seq()),
        TreeCase(yaml: "{}", tree: .mapping(.init([]))),
        TreeCase(yaml: "{a, b: }", tree: map(["a": plain(""), "b": plain("")])),
        TreeCase(yaml: "[a: 1, b]", tree: seq(map(["a": plain("1")]), plain("b"))),
        TreeCase(yaml: "{\"a\":1}", tree: .mapping(.init([.init(key: double("a"), value: plain("1"))]))),
        TreeCase(yaml: "x: [\n  a,   # first\n  b c,\n\n  [d]\n]\n", tree: map(["x": seq(plain("a"), plain("b c"), seq(plain("d")))])),
        TreeCase(yaml: "[http://h:1/x, a:b]", tree: seq(plain("http://h:1/x"), plain("a:b"))),
        TreeCase(yaml: "[-1, -x]", tree: seq(plain("-1"), plain("-x"))),
        // Plain scalars over several lines
        TreeCase(yaml: "a: one\n  two\n\n  three\nb: 1\n", tree: map(["a": plain("one two\nthree"), "b": plain("1")])),
        TreeCase(yaml: "- a\n  - b\n", tree: seq(plain("a - b"))),
        // Quoted scalars
        TreeCase(yaml: "a: 'it''s # not a comment'\n", tree: map(["a": single("it's # not a comment")])),
        TreeCase(yaml: "a: '\\n stays'\n", tree: map(["a": single("\\n stays")])),
        TreeCase(
            yaml: #"a: "q\" b\\ n\n t\t u\u00e9 x\x41 U\U0001F600 z\0 s\/ \_ \N""#,
            tree: map(["a": double("q\" b\\ n\n t\t ué xA U😀 z\u{0} s/ \u{A0} \u{85}")])),
        TreeCase(yaml: "a: 'one\n  two  \n\n  three'\n", tree: map(["a": single("one two\nthree")])),
        TreeCase(yaml: "a: \"one \\\n   two\"\n", tree: map(["a": double("one two")])),
        TreeCase(yaml: "a: \"tab\\t \n  b\"\n", tree: map(["a": double("tab\t b")])),
        TreeCase(yaml: "a: \"\"\nb: ''\n", tree: map(["a": double(""), "b": single("")])),
        // Block scalars
        TreeCase(yaml: "a: |\n  x\n   y\n\nb: 1\n", tree: map(["a": literal("x\n y\n"), "b": plain("1")])),
        TreeCase(yaml: "a: |-\n  x\n  y\n\n\n", tree: map(["a": literal("x\ny")])),
        TreeCase(yaml: "a: |+\n  x\n\n\nb: 1\n", tree: map(["a": literal("x\n\n\n"), "b": plain("1")])),
        TreeCase(yaml: "a: |\n  x", tree: map(["a": literal("x")])),
        TreeCase(yaml: "a: |2\n   x\n  y\n", tree: map(["a": literal(" x\ny\n")])),
        TreeCase(yaml: "a: |  # comment\n  # kept\n# a real comment\nb: 1\n", tree: map(["a": literal("# kept\n"), "b": plain("1")])),
        TreeCase(yaml: "a: |\nb: 1\n", tree: map(["a": literal(""), "b": plain("1")])),
        TreeCase(
            yaml: "a: >\n  one\n  two\n\n  three\n    indented\n  four\n",
            tree: map(["a": folded("one two\nthree\n  indented\nfour\n")])),
        TreeCase(yaml: "- >-\n  folded\n  text\n- |\n  lit\n", tree: seq(folded("folded text"), literal("lit\n"))),
        TreeCase(yaml: "--- |\n text\n", tree: literal("text\n")),
    ]

    @Test("inputs read to trees", arguments: trees)
    func reads(_ example: TreeCase) throws {
        #expect(try YAMLReader.read(example.yaml) == example.tree)
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var yaml: String
        var line: Int
        var column: Int
        var message: String
        var testDescription: String { "\(self.message) (\(YAMLSyntaxError.quoted(self.yaml)))" }
    }

    static let errors: [ErrorCase] = [
        ErrorCase(yaml: "a: 1\nb: 2\na: 3\n", line: 3, column: 1, message: "duplicate key \"a\" (first at line 1)"),
        ErrorCase(yaml: "x:\n  - {a: 1,\n     a: 2}\n", line: 3, column: 6, message: "duplicate key \"a\" (first at line 2)"),
        ErrorCase(yaml: "a:\n\tb: 1\n", line: 2, column: 1, message: "a tab character in indentation; indent with spaces"),
        ErrorCase(yaml: "a:\n  \tb: 1\n", line: 2, column: 3, message: "a tab character in indentation"),
        ErrorCase(yaml: "a: &x 1\n", line: 1, column: 4, message: "anchors and aliases (&name, *name) are not supported"),
        ErrorCase(yaml: "a: [*x]\n", line: 1, column: 5, message: "anchors and aliases (&name, *name) are not supported"),
        ErrorCase(yaml: "a: !!str 1\n", line: 1, column: 4, message: "tags (!tag) are not supported"),
        ErrorCase(yaml: "? a\n: b\n", line: 1, column: 1, message: "complex keys ('? ') are not supported"),
        ErrorCase(yaml: "%YAML 1.2\n---\na: 1\n", line: 1, column: 1, message: "directives (%YAML, %TAG) are not supported"),
        ErrorCase(yaml: "a: 1\n---\nb: 2\n", line: 2, column: 1, message: "a second document ('---')"),
        ErrorCase(yaml: "a: 1\n...\nb: 2\n", line: 3, column: 1, message: "content after the document end marker '...'"),
        ErrorCase(yaml: "a: 'x\n\n", line: 1, column: 4, message: "a single-quoted string is not closed"),
        ErrorCase(yaml: "a: \"x\n---\n\"", line: 1, column: 4, message: "a double-quoted string is not closed"),
        ErrorCase(yaml: "a: \"x\\q\"\n", line: 1, column: 6, message: "unknown escape: a backslash before \"q\""),
        ErrorCase(yaml: "a: \"\\u12\"\n", line: 1, column: 5, message: "\\u needs 4 hexadecimal digits"),
        ErrorCase(yaml: "a: \"\\uD800\"\n", line: 1, column: 5, message: "the escape names no Unicode character (U+D800)"),
        ErrorCase(yaml: "targets: [\n", line: 1, column: 10, message: "'[' is not closed"),
        ErrorCase(yaml: "a: {b: 1\n", line: 1, column: 4, message: "'{' is not closed"),
        ErrorCase(yaml: "a: [1, 2 }\n", line: 1, column: 10, message: "expected ',' or ']' in the list opened at line 1, column 4; found \"}\""),
        ErrorCase(yaml: "a: [1, , 2]\n", line: 1, column: 8, message: "expected a value before \",\""),
        ErrorCase(yaml: "a: [|\n  x]\n", line: 1, column: 5, message: "block scalars ('|', '>') are not allowed inside [ ] or { }"),
        ErrorCase(yaml: "a: b: c\n", line: 1, column: 5, message: "a mapping value is not allowed here"),
        ErrorCase(yaml: "a: 1\n  b: 2\n", line: 2, column: 4, message: "a ': ' inside a plain value continued from the line above"),
        ErrorCase(yaml: "a: \"1\"\n  b: 2\n", line: 2, column: 3, message: "this line is indented more than the keys above it (0 spaces)"),
        ErrorCase(yaml: "a:\n  b: 1\n c: 2\n", line: 3, column: 2, message: "this line is indented more than the keys above it (0 spaces)"),
        ErrorCase(yaml: "- a\nb: 1\n", line: 2, column: 1, message: "expected a '- ' list item at this indentation"),
        ErrorCase(yaml: "- [a]\n  - b\n", line: 2, column: 3, message: "this line is indented more than the '- ' items above it"),
        ErrorCase(yaml: "a: 1\n- b\n", line: 2, column: 1, message: "a list item where a key was expected"),
        ErrorCase(yaml: "a: 1\nb\n", line: 2, column: 1, message: "expected a key followed by ':'"),
        ErrorCase(yaml: "a: - b\n", line: 1, column: 4, message: "a list cannot start on its key's line"),
        ErrorCase(yaml: "a: \"x\" y\n", line: 1, column: 8, message: "unexpected \"y\" after the value"),
        ErrorCase(yaml: "a: \"x\"#c\n", line: 1, column: 7, message: "a comment needs a blank before '#'"),
        ErrorCase(yaml: "a: |x\n", line: 1, column: 5, message: "unexpected \"x\" after a block scalar's '|' or '>'"),
        ErrorCase(yaml: "a: |\n  x\n\ty\n", line: 3, column: 1, message: "a tab character in a block scalar's indentation"),
        ErrorCase(yaml: "a: \u{1}\n", line: 1, column: 4, message: "the character U+0001 is not allowed"),
        ErrorCase(yaml: "a: 1\nb: é\u{7F}\n", line: 2, column: 5, message: "the character U+007F is not allowed"),
        ErrorCase(yaml: "a: \u{85}\u{9B}\n", line: 1, column: 5, message: "the character U+009B is not allowed"),
        ErrorCase(yaml: "a: \u{FFFE}\n", line: 1, column: 4, message: "the character U+FFFE is not allowed"),
        ErrorCase(yaml: "- [a, b]: c\n", line: 1, column: 3, message: "a [ ] or { } collection as a key is not supported"),
        ErrorCase(yaml: "{[a]: 1}\n", line: 1, column: 2, message: "a [ ] or { } collection as a key is not supported"),
        ErrorCase(yaml: "a: @x\n", line: 1, column: 4, message: "\"@\" cannot start a plain value; quote the value"),
        ErrorCase(yaml: "a: ]\n", line: 1, column: 4, message: "unexpected \"]\""),
        ErrorCase(yaml: "a:\n  : b\n", line: 2, column: 3, message: "a ':' without a key before it"),
        ErrorCase(yaml: "\"a\nb\": 1\n", line: 1, column: 1, message: "a key must be on one line"),
        ErrorCase(yaml: "é: 'x\n", line: 1, column: 4, message: "a single-quoted string is not closed"),
        ErrorCase(yaml: "[a]\nb\n", line: 2, column: 1, message: "this line does not belong to the document's top-level value"),
        ErrorCase(yaml: String(repeating: "[", count: 100), line: 1, column: 65, message: "collections nested more than 64 levels deep"),
    ]

    @Test("errors name the line and column", arguments: errors)
    func refuses(_ example: ErrorCase) {
        do {
            let tree = try YAMLReader.read(example.yaml)
            Issue.record("expected an error, read \(String(describing: tree))")
        } catch {
            #expect(error.line == example.line && error.column == example.column, "\(error)")
            #expect(error.message.hasPrefix(example.message), "\(error)")
        }
    }

    struct Resolution: Sendable, CustomTestStringConvertible {
        var value: String
        var isNull = false
        var bool: Bool? = nil
        var int: Int? = nil
        var testDescription: String { self.value }
    }

    /// Yams' (libyaml with its default resolver) answers, which the configuration loader relied on.
    static let resolutions: [Resolution] = [
        .init(value: "", isNull: true), .init(value: "~", isNull: true), .init(value: "null", isNull: true),
        .init(value: "Null", isNull: true), .init(value: "NULL", isNull: true), .init(value: "nULL"),
        .init(value: "'null'"), .init(value: "\"\""), .init(value: "''"),
        .init(value: "true", bool: true), .init(value: "True", bool: true), .init(value: "TRUE", bool: true),
        .init(value: "yes", bool: true), .init(value: "on", bool: true), .init(value: "ON", bool: true),
        .init(value: "false", bool: false), .init(value: "No", bool: false), .init(value: "off", bool: false),
        .init(value: "OFF", bool: false), .init(value: "tRue"), .init(value: "'true'"), .init(value: "\"yes\""), .init(value: "y"),
        .init(value: "6379", int: 6379), .init(value: "0", int: 0), .init(value: "-5", int: -5), .init(value: "+5", int: 5),
        .init(value: "0x1F", int: 31), .init(value: "-0x10", int: -16), .init(value: "0o17", int: 15), .init(value: "017", int: 15),
        .init(value: "0b101", int: 5), .init(value: "1_000", int: 1000), .init(value: "09"), .init(value: "1.5"),
        .init(value: "\"6379\""), .init(value: "'1'"), .init(value: "0x-5"), .init(value: "--5"), .init(value: "1e3"),
        .init(value: "99999999999999999999"), .init(value: "0x"), .init(value: "_"),
    ]

    @Test("scalars resolve to null, bool and int as before", arguments: resolutions)
    func resolves(_ expected: Resolution) throws {
        let node = try #require(try YAMLReader.read("key: \(expected.value)\n")?.mapping?["key"])
        #expect(node.isNull == expected.isNull)
        #expect(node.bool == expected.bool)
        #expect(node.int == expected.int)
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..")
        .standardized.path

    /// The YAML files in the repository, and the trees Yams read them to (dumped before the reader replaced it).
    @Test(
        "the repository's YAML files read as Yams read them",
        arguments: [
            "config/redis-healthd.yaml", "contrib/prometheus/redis-healthd.rules.yml",
            "contrib/prometheus/redis-healthd.rules.test.yml",
        ])
    func repositoryFiles(_ file: String) throws {
        let text = try String(contentsOfFile: "\(Self.repositoryRoot)/\(file)", encoding: .utf8)
        let golden = try String(
            contentsOfFile: "\(Self.repositoryRoot)/Tests/HealthDaemonTests/YAMLGolden/\((file as NSString).lastPathComponent).dump",
            encoding: .utf8)
        let tree = try #require(try YAMLReader.read(text))
        var dump = ""
        Self.dump(tree, into: &dump)
        #expect(dump == golden)
    }

    /// One line per node: its kind, a scalar's style, text and resolutions; keys and items indented below.
    static func dump(_ node: YAMLNode, _ indent: String = "", into out: inout String) {
        switch node {
        case .scalar(let scalar):
            let style =
                switch scalar.style {
                case .plain: "plain"
                case .singleQuoted: "single"
                case .doubleQuoted: "double"
                case .literal: "literal"
                case .folded: "folded"
                }
            let text = scalar.string.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
            out += indent + "scalar \(style) \"\(text)\""
            out += " null=\(node.isNull) bool=\(node.bool.map(String.init) ?? "-") int=\(node.int.map(String.init) ?? "-")\n"
        case .mapping(let mapping):
            out += indent + "mapping\n"
            for (key, value) in mapping {
                dump(key, indent + "  key ", into: &out)
                dump(value, indent + "    ", into: &out)
            }
        case .sequence(let items):
            out += indent + "sequence\n"
            for item in items { dump(item, indent + "  - ", into: &out) }
        }
    }

    @Test("the configuration loader names the line and column of a YAML error")
    func loaderMessage() {
        do {
            _ = try ConfigurationLoader(credentialsDirectory: nil).parse("targets:\n  - name: a\n    host: 'h\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.problems.map(\.description) == ["not valid YAML: line 3, column 11: a single-quoted string is not closed"])
        }
    }

    // MARK: Hostile input

    /// Reads `text`, expecting an error or a tree, within `seconds`: a generous bound for a debug build on a busy
    /// machine (a release build reads 10 MB in a few tens of milliseconds), far below what quadratic work would take.
    static func timedRead(_ text: String, seconds: Double = 3) -> (Result<YAMLNode?, YAMLSyntaxError>, Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        let result: Result<YAMLNode?, YAMLSyntaxError>
        do {
            result = .success(try YAMLReader.read(text))
        } catch {
            result = .failure(error)
        }
        let elapsed = clock.now - start
        #expect(elapsed < .seconds(seconds), "\(elapsed) for \(text.utf8.count) bytes")
        if case .failure(let error) = result {
            #expect(error.description.count < 200, "a short message: \(error.description.prefix(300))")
        }
        return (result, elapsed)
    }

    @Test("deep nesting is an error, not a stack overflow")
    func deepNesting() throws {
        let blockMappings = (0..<200).map { String(repeating: " ", count: $0) + "a:\n" }.joined()
        let blockLists = String(repeating: "- ", count: 100_000) + "x\n"
        let flow = String(repeating: "[", count: 1_000_000)
        let mixed = String(repeating: "[{a: ", count: 100) + "x"
        for text in [blockMappings, blockLists, flow, mixed] {
            let (result, _) = Self.timedRead(text)
            guard case .failure(let error) = result else {
                Issue.record("expected an error")
                continue
            }
            #expect(error.message == "collections nested more than 64 levels deep")
        }
        // 64 levels are fine.
        let deepest = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try YAMLReader.read(deepest) }
    }

    @Test("a huge flow list and long lines are read in linear time")
    func largeInputs() throws {
        let count = 200_000
        let (list, _) = Self.timedRead("ports: [" + String(repeating: "6379, ", count: count) + "1]\n")
        #expect((try? list.get())?.mapping?["ports"]?.sequence?.count == count + 1)

        let long = String(repeating: "x", count: 2_000_000)
        let (plain, _) = Self.timedRead("key: \(long) # end\n")
        #expect((try? plain.get())?.mapping?["key"]?.string == long)
        let (quoted, _) = Self.timedRead("key: \"\(long)\"\n")
        #expect((try? quoted.get())?.mapping?["key"]?.string == long)

        let manyKeys = (0..<50_000).map { "key\($0): value\n" }.joined()
        let (mapping, _) = Self.timedRead(manyKeys)
        #expect((try? mapping.get())?.mapping?.count == 50_000)
    }

    @Test("garbage, unterminated quotes and control characters fail fast with short messages")
    func garbage() throws {
        // 10 MB of pseudo-random bytes (most of them not UTF-8) and 10 MB of random printable ASCII and line breaks,
        // each a 64 KB block repeated.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        let block = 65_536
        let repeats = 10_000_000 / block
        let bytes = (0..<block).map { _ in next() }
        let printable = (0..<block).map { _ -> UInt8 in
            let byte = next() % 100
            return byte < 95 ? byte + 0x20 : 0x0A
        }
        for text in [bytes, printable].map({ String(repeating: String(decoding: $0, as: UTF8.self), count: repeats) }) {
            let (result, _) = Self.timedRead(text)
            if case .success = result { Issue.record("garbage read as YAML") }
        }
        // Printable garbage without line breaks, `:` and `#` is one long plain scalar.
        let scalar = String(repeating: String(decoding: printable.filter { ![0x0A, 0x23, 0x3A].contains($0) }, as: UTF8.self), count: repeats)
        let (long, _) = Self.timedRead("k: \(scalar)")
        #expect((try? long.get())?.mapping?["k"]?.string == scalar.trimmingCharacters(in: .whitespaces))
        let unterminated = "key: \"" + String(repeating: "a", count: 10_000_000)
        let (quoted, _) = Self.timedRead(unterminated)
        #expect(throws: YAMLSyntaxError(line: 1, column: 6, message: "a double-quoted string is not closed")) { try quoted.get() }
        let control = String(repeating: "a: b\n", count: 1_000_000) + "c: \u{0}\n"
        let (nul, _) = Self.timedRead(control)
        #expect(throws: YAMLSyntaxError(line: 1_000_001, column: 4, message: "the character U+0000 is not allowed; write it as an escape in a double-quoted string")) {
            try nul.get()
        }
    }

    @Test("messages quote a short, escaped excerpt of the input")
    func excerpts() {
        let key = String(repeating: "k", count: 500)
        do {
            _ = try YAMLReader.read("\"\(key)\": 1\n\"\(key)\": 2\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "duplicate key \"" + String(repeating: "k", count: 40) + "…\" (first at line 1)")
        }
        #expect(YAMLSyntaxError.quoted("a\u{1B}\"\\\n\u{2028}") == #""a\u{1B}\"\\\n\u{2028}""#)
    }

    @Test("odd indentation")
    func oddIndentation() throws {
        // Items indented by one, three or more spaces, and sequences at their key's indent, are all fine.
        let tree = try YAMLReader.read("a:\n b:\n    - 1\n    -   c: 2\n        d: 3\n e:\n - 4\n")
        #expect(
            tree
                == Self.map([
                    "a": Self.map([
                        "b": Self.seq(Self.plain("1"), Self.map(["c": Self.plain("2"), "d": Self.plain("3")])),
                        "e": Self.seq(Self.plain("4")),
                    ])
                ]))
        #expect(throws: YAMLSyntaxError.self) { try YAMLReader.read("a:\n   b: 1\n  c: 2\n") }
        #expect(throws: YAMLSyntaxError.self) { try YAMLReader.read("- a\n  b: c\n") }
    }
}
