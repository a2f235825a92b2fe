/// `--list`: every model preset with its size, the size aliases, and every GPU preset with the
/// memory a process can use and where that number comes from.
public enum CatalogListing {
    public static func text() -> String {
        var lines = ["model presets:"]
        lines.append("  " + Report.pad("name", 16) + Report.pad("family", 11) + Report.pad("params", 10, right: true)
                     + Report.pad("linears", 10, right: true) + "  L   hidden       FF  heads/kv   vocab  tied")
        for p in ModelPresets.all {
            let c = p.config
            lines.append("  " + Report.pad(p.name, 16) + Report.pad(p.family, 11)
                         + Report.pad(CountFormat.format(c.totalParameters), 10, right: true)
                         + Report.pad(CountFormat.format(c.linearParameters), 10, right: true)
                         + Report.pad("\(c.numHiddenLayers)", 5, right: true)
                         + Report.pad("\(c.hiddenSize)", 7, right: true)
                         + Report.pad(c.numLocalExperts > 1 ? "\(c.intermediateSize)×\(c.numLocalExperts)"
                                      : "\(c.intermediateSize)", 9, right: true)
                         + Report.pad("\(c.numAttentionHeads)/\(c.numKeyValueHeads)", 10, right: true)
                         + Report.pad("\(c.vocabSize)", 8, right: true)
                         + (c.tieWordEmbeddings ? "  yes" : "  no"))
        }
        lines.append("")
        lines.append("size aliases: " + ModelPresets.aliases.map { "\($0.alias) → \($0.preset)" }
            .joined(separator: ", "))
        lines.append("")
        lines.append("GPU presets (usable = total capacity CUDA reports, below the marketed size):")
        for g in GPUCatalog.all {
            lines.append("  " + Report.pad(g.name, 12) + Report.pad("sold as " + g.marketed, 15)
                         + Report.pad(ByteCount.format(g.usableBytes), 11, right: true) + "  " + g.source)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
