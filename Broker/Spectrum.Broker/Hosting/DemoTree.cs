namespace Spectrum.Broker.Hosting;

/// <summary>The embedded default's tree: a small home folder for trying the broker out, created once.</summary>
public static class DemoTree
{
    public static void EnsureExists(string root)
    {
        if (Directory.Exists(root))
        {
            return;
        }

        var temp = root + ".creating";
        if (Directory.Exists(temp))
        {
            Directory.Delete(temp, recursive: true);
        }

        void Write(string relative, string text)
        {
            var path = Path.Combine(temp, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }

        Write("Documents/report.odt", "Quarterly report (demo file)\n");
        Write("Documents/Work/notes.txt", "Meeting notes (demo file)\n");
        Write("Pictures/wallpaper.png", "not really a PNG (demo file)\n");
        Write("Downloads/README.txt", "Downloads land here (demo file)\n");
        Write(".ssh/id_ed25519", "demo placeholder, not a key\n");
        Directory.Move(temp, root);
    }
}
