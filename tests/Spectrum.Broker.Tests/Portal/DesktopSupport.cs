namespace Spectrum.Broker.Tests.Portal;

/// <summary>A fact that shows the real GTK dialog; skipped (visibly) only when a program of the rig is missing.</summary>
public sealed class DesktopFactAttribute : FactAttribute
{
    public DesktopFactAttribute()
    {
        if (PortalDesktop.Missing is { } missing)
        {
            Skip = missing;
        }
    }
}

/// <summary>One headless desktop for every dialog test; started on first use, so a skipped run starts nothing.</summary>
public sealed class DesktopFixture : IAsyncLifetime
{
    private PortalDesktop? desktop;

    public PortalDesktop Desktop => desktop ?? throw new InvalidOperationException(PortalDesktop.Missing ?? "the desktop did not start");

    public async Task InitializeAsync()
    {
        if (PortalDesktop.Missing is null)
        {
            desktop = await PortalDesktop.StartAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (desktop is not null)
        {
            await desktop.DisposeAsync();
        }
    }
}

/// <summary>The dialog tests share one display and one focus: one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DesktopCollection : ICollectionFixture<DesktopFixture>
{
    public const string Name = "portal-desktop";
}
