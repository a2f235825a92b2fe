import Foundation
import QLoRA
import QLoRABoard
import QLoRATestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `qlora board` on loopback: it follows a live `train` run, serves its page, and refuses every
/// file outside the named run directories. Every loop here is bounded in count and time.
@Suite(.serialized) struct BoardCommandTests {
    /// A started `qlora board … --port 0` and the port it printed.
    /// The board process is killed with its group when this goes (BoundedProcess's deinit).
    final class Board {
        let process: BoundedProcess
        let port: UInt16

        init(_ runs: [String]) throws {
            process = try CLIRunner.start(["board"] + runs + ["--port", "0"], stderr: .discard)
            // The first line names the address; the board exiting, or 60 s, ends the wait too.
            var text = ""
            let deadline = Date().addingTimeInterval(60)
            while !text.contains("\n") && Date() < deadline {
                if !process.isRunning { text = process.finish(timeout: 1).stdout; break }
                text = String(decoding: process.stdoutSoFar, as: UTF8.self)
                usleep(10_000)
            }
            guard let range = text.range(of: #"127\.0\.0\.1:(\d+)/"#, options: .regularExpression),
                  let port = UInt16(text[range].dropFirst(10).dropLast()) else {
                throw QLoRAError.invalid("board printed no address within 60 s: \(text)")
            }
            self.port = port
        }
    }

    /// One GET over a loopback socket, the path sent exactly as given (no client-side clean-up).
    static func get(_ port: UInt16, _ path: String) throws -> (status: Int, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw QLoRAError.invalid("socket failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw QLoRAError.invalid("connect to port \(port) failed") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data += buffer[0..<n]
            // Stop at the end of the body (Content-Length), whether or not the server closes.
            let text = String(decoding: data, as: UTF8.self)
            if let split = text.range(of: "\r\n\r\n"),
               let cl = text[..<split.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
               let length = Int(cl.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
               data.count >= text[..<split.upperBound].utf8.count + length { break }
        }
        let text = String(decoding: data, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    /// The steps the data endpoint reports for run 0.
    static func steps(_ port: UInt16) throws -> Int {
        let (status, body) = try get(port, "/api/runs")
        guard status == 200, let runs = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]],
              let metrics = runs.first?["metrics"] as? [[String: Any]] else { return -1 }
        return metrics.count
    }

    @Test func followsALiveTrainingRun() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let run = dir.path + "/run"
        // Killed with its group when the test returns (BoundedProcess's deinit).
        let train = try CLIRunner.start(["train", "--model", TrainCommandTests.tiny, "--data", data, "-o", run, "--steps", "100000",
                                         "--batch", "4", "--seq", "32", "--rank", "4", "--threads", "1"],
                                        stdout: .discard, stderr: .discard)
        // The board is started on the run directory once train has made it.
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: run + "/" + RunInfo.fileName) { usleep(50_000) }
        let board = try Board([run])
        let page = try Self.get(board.port, "/")
        #expect(page.status == 200 && page.body.contains("qlora board") && page.body.contains("/api/runs"))
        #expect(!page.body.contains("<script src") && !page.body.contains("https://"), "the page loads nothing from outside")
        var seen: [Int] = []
        for _ in 0..<400 {
            let n = try Self.steps(board.port)
            if n > (seen.last ?? 0) { seen.append(n) }
            if seen.count >= 3 { break }
            usleep(50_000)
        }
        #expect(seen.count >= 3, "step counts seen: \(seen)")
        // The endpoint carries what the page draws: options, total steps and the memory plan.
        let (_, body) = try Self.get(board.port, "/api/runs")
        let first = try #require((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]])?.first)
        #expect(first["total_steps"] as? Int == 100000)
        #expect((first["memory_plan_bytes"] as? Int ?? 0) > 0)
        #expect((first["arguments"] as? [String])?.first == "train")
        train.signal(SIGINT)  // finish the step, checkpoint, stop
        #expect(train.wait(timeout: 120), "train did not stop within 120 s of SIGINT")
    }

    @Test func refusesFilesOutsideTheRunDirectories() throws {
        let dir = TempDir()
        let run = dir.path + "/run", other = dir.path + "/other"
        for d in [run, other, run + "/sub"] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        try "{\"step\":1,\"loss\":2,\"lr\":0.1,\"grad_norm\":1,\"tokens_per_second\":5,\"rss_bytes\":9}\n"
            .write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
        try "inside\n".write(toFile: run + "/sub/note.txt", atomically: true, encoding: .utf8)
        try "SECRET\n".write(toFile: dir.path + "/secret.txt", atomically: true, encoding: .utf8)
        try "SECRET\n".write(toFile: other + "/secret.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: run + "/link.txt", withDestinationPath: dir.path + "/secret.txt")
        try FileManager.default.createSymbolicLink(atPath: run + "/linkdir", withDestinationPath: other)
        try FileManager.default.createSymbolicLink(atPath: run + "/inner.txt", withDestinationPath: run + "/sub/note.txt")
        let board = try Board([run])
        #expect(try Self.get(board.port, "/runs/0/metrics.jsonl").status == 200)
        #expect(try Self.get(board.port, "/runs/0/sub/note.txt") == (200, "inside\n"))
        #expect(try Self.get(board.port, "/runs/0/inner.txt") == (200, "inside\n"), "a symlink that stays inside is served")
        #expect(try Self.steps(board.port) == 1)
        let refused = ["/runs/0/../secret.txt", "/runs/0/../../secret.txt", "/runs/0/%2e%2e/secret.txt", "/runs/0/..%2fsecret.txt",
                       "/runs/0/sub/..%2F..%2Fsecret.txt", "/runs/0/link.txt", "/runs/0/linkdir/secret.txt", "/runs/1/secret.txt",
                       "/runs/0/" + dir.path + "/secret.txt", "/runs/0//etc/passwd", "/runs/0/sub", "/secret.txt", "/etc/passwd",
                       "/runs/-1/metrics.jsonl", "/runs/0/missing.txt"]
        for path in refused {
            let r = try Self.get(board.port, path)
            #expect(r.status == 403 || r.status == 404, "\(path): \(r.status)")
            #expect(!r.body.contains("SECRET") && !r.body.contains("root:"), "\(path)")
        }
        // The symlinks and `..` out are refused as such (403), not merely missing.
        for path in ["/runs/0/%2e%2e/secret.txt", "/runs/0/link.txt", "/runs/0/linkdir/secret.txt"] {
            #expect(try Self.get(board.port, path).status == 403, "\(path)")
        }
        let runs = try BoardRuns([run])
        #expect(throws: BoardRuns.Refusal.forbidden) { try runs.resolve(run: 0, "link.txt") }
        #expect(throws: BoardRuns.Refusal.forbidden) { try runs.resolve(run: 0, "../secret.txt") }
        #expect(throws: BoardRuns.Refusal.notFound) { try runs.resolve(run: 0, "sub") }
    }

    @Test func badRunDirectoriesAreOneLineErrors() throws {
        let dir = TempDir()
        FileManager.default.createFile(atPath: dir.path + "/file", contents: Data())
        for args in [["board", dir.path + "/missing"], ["board", dir.path + "/file"], ["board"],
                     ["board", dir.path, "--port", "70000"], ["board", dir.path, "--host", "not-an-address", "--port", "0"]] {
            let r = try CLIRunner.run(args)
            #expect(r.status != 0, "\(args)")
            // ArgumentParser's own usage block (Help:, Usage:, See) follows its one error line.
            let lines = r.stderr.split(separator: "\n").filter {
                !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See") && !$0.trimmingCharacters(in: .whitespaces).hasPrefix("Help:")
            }
            #expect(lines.count == 1, "\(args): \(r.stderr)")
        }
    }
}
