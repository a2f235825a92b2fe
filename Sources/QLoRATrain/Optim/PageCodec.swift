import CZstd
import QLoRACore

/// zstd compression of whole pages, with contexts and a scratch buffer reused for every page so a
/// pager's memory stays fixed. Not thread-safe: one pager I/O thread owns it.
final class PageCodec {
    /// zstd level 1: float state compresses little, so favour speed (hundreds of MB/s per core).
    static let level: Int32 = 1

    let pageBytes: Int
    /// Compressed bytes of the last `compress` call live here: (ZSTD_compressBound(pageBytes)).
    let scratch: UnsafeMutableRawPointer
    let scratchBytes: Int
    private let cctx: OpaquePointer
    private let dctx: OpaquePointer

    init(pageBytes: Int) {
        self.pageBytes = pageBytes
        scratchBytes = ZSTD_compressBound(pageBytes)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        cctx = ZSTD_createCCtx()
        dctx = ZSTD_createDCtx()
    }

    deinit {
        scratch.deallocate()
        ZSTD_freeCCtx(cctx)
        ZSTD_freeDCtx(dctx)
    }

    /// Bytes this codec holds: scratch plus both contexts' current sizes.
    var allocatedBytes: Int { scratchBytes + ZSTD_sizeof_CCtx(cctx) + ZSTD_sizeof_DCtx(dctx) }

    /// Compresses a page into `scratch`; returns the compressed length.
    func compress(_ page: UnsafeRawPointer, path: String) throws -> Int {
        let n = ZSTD_compressCCtx(cctx, scratch, scratchBytes, page, pageBytes, Self.level)
        if ZSTD_isError(n) != 0 {
            throw QLoRAError.io(path, "cannot compress an optimizer page: \(String(cString: ZSTD_getErrorName(n)))")
        }
        return n
    }

    /// Decompresses `length` bytes in `scratch` into a page; the result must be exactly one page.
    func decompress(length: Int, into page: UnsafeMutableRawPointer, path: String) throws {
        let n = ZSTD_decompressDCtx(dctx, page, pageBytes, scratch, length)
        if ZSTD_isError(n) != 0 {
            throw QLoRAError.format(path, "corrupt optimizer page: \(String(cString: ZSTD_getErrorName(n)))")
        }
        guard n == pageBytes else {
            throw QLoRAError.format(path, "optimizer page decompressed to \(n) bytes, expected \(pageBytes)")
        }
    }
}
