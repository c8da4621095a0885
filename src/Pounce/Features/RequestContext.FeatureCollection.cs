using System.Collections;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace Pounce.Features;

/// <summary>
/// The feature collection itself: the features Pounce knows live in fixed slots (the context answers most of them),
/// others in a small list; the revision changes on every set, as <c>HttpContext</c>'s feature cache expects.
/// </summary>
public abstract partial class RequestContext
{
    private readonly object?[] _slots = new object?[FeatureSlots.Count];
    private List<KeyValuePair<Type, object>>? _extra;
    private int _revision;

    bool IFeatureCollection.IsReadOnly => false;

    int IFeatureCollection.Revision => _revision;

    object? IFeatureCollection.this[Type key]
    {
        get
        {
            var slot = FeatureSlots.IndexOf(key);
            if (slot >= 0)
            {
                var value = _slots[slot] ?? DefaultFeature(slot);
                return value is Removed ? null : value;
            }
            if (_extra is not null)
            {
                foreach (var pair in _extra)
                {
                    if (pair.Key == key)
                        return pair.Value;
                }
            }
            return DataRateAndCompatFeature(key);
        }
        set
        {
            _revision++;
            var slot = FeatureSlots.IndexOf(key);
            if (slot >= 0)
            {
                _slots[slot] = value ?? Removed.Instance;
                return;
            }
            _extra ??= new List<KeyValuePair<Type, object>>(8);
            for (var i = 0; i < _extra.Count; i++)
            {
                if (_extra[i].Key == key)
                {
                    if (value is null)
                        _extra.RemoveAt(i);
                    else
                        _extra[i] = new KeyValuePair<Type, object>(key, value);
                    return;
                }
            }
            if (value is not null)
                _extra.Add(new KeyValuePair<Type, object>(key, value));
        }
    }

    TFeature? IFeatureCollection.Get<TFeature>() where TFeature : default => GetFeature<TFeature>();

    void IFeatureCollection.Set<TFeature>(TFeature? instance) where TFeature : default => SetFeature(instance);

    /// <summary><see cref="IFeatureCollection.Set{TFeature}"/> without the generic interface dispatch (for wrappers).</summary>
    internal void SetFeature<TFeature>(TFeature? instance)
    {
        // Hosting sets its activity (and metrics tags) feature on every request: its slot is known per type, no search.
        var slot = FeatureSlots.Of<TFeature>.Index;
        if (slot < 0)
        {
            ((IFeatureCollection)this)[typeof(TFeature)] = instance;
            return;
        }
        _revision++;
        _slots[slot] = (object?)instance ?? Removed.Instance;
    }

    /// <summary><see cref="IFeatureCollection.Get{TFeature}"/> without the generic interface dispatch (for wrappers).</summary>
    internal TFeature? GetFeature<TFeature>()
    {
        // The features the framework asks for on every request, served by this object unless the application replaced
        // them: found by comparing types (no per-type static to look up) and returned without a cast.
        var common = CommonSlot<TFeature>();
        if (common >= 0)
        {
            var set = _slots[common];
            if (set is null)
            {
                object self = this;
                return Unsafe.As<object, TFeature>(ref self);
            }
            return set is TFeature replaced ? replaced : default;
        }
        var slot = FeatureSlots.Of<TFeature>.Index;
        if (slot >= 0)
        {
            var value = _slots[slot] ?? DefaultFeature(slot);
            return value is TFeature f ? f : default;
        }
        var found = ((IFeatureCollection)this)[typeof(TFeature)];
        return found is TFeature t ? t : default;
    }

    // Slots whose default is this object (see DefaultFeature), for the feature types hosting, routing and the endpoint
    // ask for on every request; -1 for any other type.
    private static int CommonSlot<TFeature>() =>
        typeof(TFeature) == typeof(IHttpRequestFeature) ? FeatureSlots.Request
        : typeof(TFeature) == typeof(IHttpResponseFeature) ? FeatureSlots.Response
        : typeof(TFeature) == typeof(IHttpResponseBodyFeature) ? FeatureSlots.ResponseBody
        : typeof(TFeature) == typeof(IHttpRequestLifetimeFeature) ? FeatureSlots.RequestLifetime
        : typeof(TFeature) == typeof(IHttpConnectionFeature) ? FeatureSlots.Connection
        : typeof(TFeature) == typeof(IEndpointFeature) ? FeatureSlots.Endpoint
        : typeof(TFeature) == typeof(IRouteValuesFeature) ? FeatureSlots.RouteValues
        : typeof(TFeature) == typeof(IHttpRequestIdentifierFeature) ? FeatureSlots.RequestIdentifier
        : typeof(TFeature) == typeof(IHttpMaxRequestBodySizeFeature) ? FeatureSlots.MaxRequestBodySize
        : -1;

    IEnumerator<KeyValuePair<Type, object>> IEnumerable<KeyValuePair<Type, object>>.GetEnumerator()
    {
        for (var i = 0; i < FeatureSlots.Count; i++)
        {
            var value = _slots[i] ?? DefaultFeature(i);
            if (value is not null && value is not Removed)
                yield return new KeyValuePair<Type, object>(FeatureSlots.Types[i], value);
        }
        if (_extra is not null)
        {
            foreach (var pair in _extra)
                yield return pair;
        }
        foreach (var type in CompatFeatureTypes)
        {
            if (!ExtraHas(type) && DataRateAndCompatFeature(type) is { } feature)
                yield return new KeyValuePair<Type, object>(type, feature);
        }
    }

    private bool ExtraHas(Type type)
    {
        if (_extra is null)
            return false;
        foreach (var pair in _extra)
        {
            if (pair.Key == type)
                return true;
        }
        return false;
    }

    IEnumerator IEnumerable.GetEnumerator() => ((IEnumerable<KeyValuePair<Type, object>>)this).GetEnumerator();

    private object? DefaultFeature(int slot)
    {
        if (slot == FeatureSlots.RequestTrailers && !SupportsRequestTrailers)
            return null;
        if (slot == FeatureSlots.ResponseTrailers && !SupportsResponseTrailers)
            return null;
        if (slot == FeatureSlots.Upgrade)
            return UpgradeFeature;
        if (slot >= FeatureSlots.TlsConnection && slot <= FeatureSlots.TlsApplicationProtocol)
            return Connection.TlsFeatures;
        if (slot >= FeatureSlots.FirstStoredOnly)
            return null;
        return this;
    }

    /// <summary>Whether the protocol can deliver request trailers (chunked HTTP/1.1, HTTP/2).</summary>
    protected virtual bool SupportsRequestTrailers => true;

    /// <summary>Whether the protocol can send response trailers (HTTP/1.1 chunked, HTTP/2).</summary>
    protected virtual bool SupportsResponseTrailers => true;

    /// <summary>The protocol's upgrade feature; where upgrades are not possible (HTTP/2), one that reports false.</summary>
    protected virtual object? UpgradeFeature => NoUpgrade.Instance;

    private sealed class Removed
    {
        public static readonly Removed Instance = new();
    }
}
