import Foundation
import ShipgateGate
import ShipgateLoading
import ShipgatePlanning

/// Parser fuzzing. Each input goes through every parser of untrusted text: the pipeline loader
/// (YAML composer, decoder, environments) and the planner on what it accepts, the keyring
/// loader, and the approval-statement decoder with its canonical text. A parser may reject an
/// input with diagnostics; it must never crash, hang or exhaust memory.
///
/// Built with `-D SHIPGATE_FUZZ -sanitize=fuzzer,address` (bench/fuzz.sh), libFuzzer drives
/// `LLVMFuzzerTestOneInput`. Built normally, this is a replay tool: `ShipgateFuzz FILE…` runs
/// each file through the same targets (to reproduce a crash without the sanitizers).
enum FuzzTargets {
    static func run(_ bytes: [UInt8]) {
        let result = PipelineLoader.load(bytes: bytes, file: "fuzz.yml")
        if let pipeline = result.pipeline, result.diagnostics.isEmpty {
            _ = Planner.plan(pipeline, options: .init())
        }
        _ = KeyringLoader.parse(bytes: bytes, file: "approvers.yml")
        if let statement = try? ApprovalStatement.decode(Data(bytes)) {
            _ = statement.canonicalText
            _ = statement.digest
            _ = statement.issued
            _ = statement.expires
        }
    }
}

#if SHIPGATE_FUZZ
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        guard let data else { return 0 }
        FuzzTargets.run(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    /// SwiftPM links an executable's entry point as `<target>_main`: hand control to libFuzzer.
    @_cdecl("ShipgateFuzz_main")
    public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
        var argc = argc
        var argv = argv
        return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOne(data, size) }
    }
#else
    @main
    struct Replay {
        static func main() {
            let files = CommandLine.arguments.dropFirst()
            if files.isEmpty {
                FileHandle.standardError.write(Data("usage: ShipgateFuzz FILE...  (replays inputs through the fuzz targets)\n".utf8))
                exit(2)
            }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                    exit(2)
                }
                FuzzTargets.run(Array(data))
                print("ok \(file)")
            }
        }
    }
#endif
