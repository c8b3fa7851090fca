using Spectrum.FuseFs;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

internal sealed partial class ViewFileSystem
{
    /// <summary>
    /// READDIRPLUS: each entry comes with its node and attributes, so listing a directory and
    /// stating what is in it costs one round trip per buffer instead of one per name
    /// (BENCHMARKS.md: the round trip is the unit of account). Entries go through
    /// <see cref="Lookup"/>, so they obey exactly the rules a lookup does (grant roots nested in
    /// a directory grant get their own rights; names that a lookup refuses, such as mount points,
    /// are left out).
    /// </summary>
    public override Errno ReadDirPlus(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries)
    {
        var h = Handle(fh);
        if (h is null)
        {
            return Errno.EACCES;
        }

        if (h.SyntheticEntries is not null)
        {
            return ReadDir(context, node, fh, offset, ref entries);
        }

        var e = Posix.SeekDir(h.Fd!, (long)offset);
        if (e != Errno.OK)
        {
            return e;
        }

        var buffer = t_direntBuffer ??= new byte[8192];
        while (true)
        {
            e = Posix.GetDents(h.Fd!, buffer, out var length);
            if (e != Errno.OK || length == 0)
            {
                return e;
            }

            foreach (var d in new DirentReader(buffer.AsSpan(0, length)))
            {
                bool added;
                if (d.Name.SequenceEqual("."u8) || d.Name.SequenceEqual(".."u8))
                {
                    added = entries.TryAdd(d.Name, d.Ino, (uint)d.Type, (ulong)d.Offset);
                }
                else
                {
                    var entry = default(FuseEntryOut);
                    if (Lookup(context, node, d.Name, ref entry) != Errno.OK)
                    {
                        continue;
                    }

                    added = entries.TryAdd(d.Name, entry, (ulong)d.Offset);
                }

                if (!added)
                {
                    return Errno.OK;
                }
            }
        }
    }
}
