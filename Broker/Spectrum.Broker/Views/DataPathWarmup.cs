using System.Reflection;
using System.Runtime.CompilerServices;
using Spectrum.FuseFs;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>
/// Compiles the data path (the FUSE session, the view filesystem, the syscalls they make) once,
/// in the background, when the first view is mounted, instead of on the first requests that
/// reach each method. The broker runs without tiered compilation (see the project file), so a
/// method is compiled optimized on its first call: without this, the first cold listing of a
/// 10,000-entry directory after a start spent ~8 ms of its ~22 ms compiling (measured: 13-14 ms
/// from the second listing on). Best effort: a method that cannot be prepared is compiled on first
/// call as before.
/// </summary>
internal static class DataPathWarmup
{
    private static int _started;

    public static void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }

        var thread = new Thread(Run) { IsBackground = true, Name = "jit-warmup", Priority = ThreadPriority.BelowNormal };
        thread.Start();
    }

    private static void Run()
    {
        foreach (var type in new[]
        {
            typeof(ViewFileSystem), typeof(ViewNode), typeof(ViewHandle), typeof(DirectoryStream), typeof(TreeMounts),
            typeof(FuseSession), typeof(FuseDirectoryWriter), typeof(Posix), typeof(DirentReader),
        })
        {
            Prepare(type);
        }
    }

    private static void Prepare(Type type)
    {
        if (type.ContainsGenericParameters)
        {
            return;
        }

        const BindingFlags all = BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
        foreach (var method in type.GetMethods(all))
        {
            if (method.IsAbstract || method.ContainsGenericParameters
                || (method.MethodImplementationFlags & (MethodImplAttributes.InternalCall | MethodImplAttributes.Runtime)) != 0
                || (method.Attributes & MethodAttributes.PinvokeImpl) != 0)
            {
                continue;
            }

            try
            {
                RuntimeHelpers.PrepareMethod(method.MethodHandle);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or TypeLoadException or MissingMethodException or BadImageFormatException)
            {
                // Compiled on first call instead.
            }
        }

        foreach (var nested in type.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic))
        {
            Prepare(nested);
        }
    }
}
