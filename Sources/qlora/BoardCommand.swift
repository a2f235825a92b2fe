import ArgumentParser
import Foundation
import QLoRA
import QLoRABoard

struct BoardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "board",
        abstract: "Watch training runs live in the browser: loss, eval loss, learning rate, gradient norm, tokens/s, RSS against the memory plan.",
        discussion: """
            Serves one read-only page for the given run directories (`qlora train -o RUN`), following \
            their metrics.jsonl as it grows; finished runs load from their files. Only files under the \
            named directories are served. Prints the address, then serves until interrupted.
            """
    )

    @Argument(help: "Run directories.") var runs: [String]
    @Option(help: "Address to listen on (127.0.0.1: this machine only).") var host: String = "127.0.0.1"
    @Option(help: "Port (0: any free port; the address is printed).") var port: Int = 6006

    func validate() throws {
        guard !runs.isEmpty else { throw QLoRAError.invalid("give at least one run directory") }
        guard (0...65535).contains(port) else { throw QLoRAError.invalid("--port must be in 0…65535") }
    }

    func run() throws {
        let board = try BoardRuns(runs)
        // Serves until interrupted: Ctrl-C or SIGTERM end it even when started from a parent that
        // ignores them (ignored dispositions are inherited across exec).
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        let done = DispatchSemaphore(value: 0)
        let failure = ErrorBox()
        let host = self.host, port = UInt16(port)
        Task {
            do {
                try await BoardServer.run(board, host: host, port: port) { bound in
                    FileHandle.standardOutput.write(Data("qlora board: http://\(host):\(bound)/ (\(board.runs.count) run\(board.runs.count == 1 ? "" : "s"))\n".utf8))
                }
            } catch {
                failure.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = failure.error { throw error }
    }
}

private final class ErrorBox: @unchecked Sendable {
    var error: Error?
}
