import Foundation
import PackagePlugin

/// Writes `BuildInfo.swift` for the executable before each build: the git commit it is built from (with `-dirty`
/// when tracked files differ from it) and when that commit was first built here, so that `redis-healthd --version`
/// names what is running. The file is rewritten only when the commit changes, so it does not force a rebuild each
/// time. Outside a git checkout the commit is `unknown`.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildInfo.swift")
        let package = context.package.directoryURL.path
        let script = """
            set -u
            commit=$(git -C "$1" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            if [ "$commit" != unknown ] && [ -n "$(git -C "$1" status --porcelain --untracked-files=no 2>/dev/null | head -1)" ]; then
                commit="$commit-dirty"
            fi
            if [ -f "$2" ] && grep -q "\\"$commit\\"" "$2"; then exit 0; fi
            date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
            printf '// Generated at build time by the BuildInfo plugin.\\nenum BuildInfo {\\n    static let commit = "%s"\\n    static let date = "%s"\\n}\\n' "$commit" "$date" > "$2.tmp" && mv "$2.tmp" "$2"
            """
        return [
            .prebuildCommand(
                displayName: "Build info (git commit, build date)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "build-info", package, output.path],
                outputFilesDirectory: context.pluginWorkDirectoryURL)
        ]
    }
}
