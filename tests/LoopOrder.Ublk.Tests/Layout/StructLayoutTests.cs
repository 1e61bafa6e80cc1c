using System.Reflection;
using System.Runtime.InteropServices;
using LoopOrder.Tests.Shared;
using LoopOrder.Ublk.Structs;

namespace LoopOrder.Ublk.Tests.Layout;

/// <summary>Every kernel struct's size, and every field's offset and size, against the 6.12 and 7.3 headers.</summary>
public class StructLayoutTests
{
    private static readonly Type[] Types =
    [
        typeof(ublksrv_ctrl_cmd),
        typeof(ublksrv_ctrl_dev_info),
        typeof(ublksrv_io_desc),
        typeof(ublksrv_io_cmd),
        typeof(ublk_param_basic),
        typeof(ublk_param_discard),
        typeof(ublk_param_devt),
        typeof(ublk_param_zoned),
        typeof(ublk_params),
    ];

    /// <summary>Structs only the newer headers have (UBLK_F_BATCH_IO, 7.0+): checked against every header but the oldest.</summary>
    private static readonly Type[] NewerTypes =
    [
        typeof(ublk_batch_io),
        typeof(ublk_elem_header),
    ];

    public static TheoryData<string, Type> Structs
    {
        get
        {
            var data = new TheoryData<string, Type>();
            foreach (string kernel in UapiHeaders.Kernels)
            {
                foreach (Type type in Types)
                {
                    data.Add(kernel, type);
                }

                if (kernel != KernelHeaderProbe.Oldest)
                {
                    foreach (Type type in NewerTypes)
                    {
                        data.Add(kernel, type);
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Structs))]
    public void SizeMatchesTheHeader(string kernel, Type type)
    {
        long header = KernelHeaderProbe.For(kernel).Sizes[type.Name];
        long expected = header;
        if (type == typeof(ublk_params) && kernel != KernelHeaderProbe.Oldest)
        {
            // Newer kernels append parameter blocks (7.3: dma, seg, integrity). The struct carries its
            // own length and the kernel copies min(len, its sizeof), so the 6.12 layout stays valid
            // there as long as it is a prefix (checked field by field below).
            expected = KernelHeaderProbe.For(KernelHeaderProbe.Oldest).Sizes[type.Name];
            Assert.True(expected <= header, $"ublk_params: {kernel}'s header ({header} bytes) is smaller than 6.12's ({expected})");
        }

        Assert.Equal(expected, Marshal.SizeOf(type));
        Assert.Equal(expected, (int)typeof(System.Runtime.CompilerServices.Unsafe).GetMethod("SizeOf")!.MakeGenericMethod(type).Invoke(null, null)!);

        // The Size constant each struct carries (used to size buffers and command lengths).
        object? constant = type.GetField("Size", BindingFlags.Public | BindingFlags.Static)?.GetValue(null);
        Assert.Equal(expected, Convert.ToInt64(constant, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [MemberData(nameof(Structs))]
    public void EveryHeaderFieldIsDeclaredAtItsOffsetWithItsSize(string kernel, Type type)
    {
        IReadOnlyDictionary<string, (long Offset, long Size)> fields = KernelHeaderProbe.For(kernel).Fields;
        string prefix = type.Name + ".";
        string[] headerFields = [.. fields.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal))];
        Assert.NotEmpty(headerFields);
        foreach (string key in headerFields)
        {
            string name = key[prefix.Length..];
            (long offset, long size) = fields[key];
            FieldInfo? field = type.GetField(name, BindingFlags.Public | BindingFlags.Instance);
            Assert.True(field is not null, $"{type.Name} lacks the {kernel} header's field {name}");
            Assert.True(offset == (long)Marshal.OffsetOf(type, name), $"{type.Name}.{name}: offset {Marshal.OffsetOf(type, name)}, {kernel} header {offset}");
            Assert.True(size == Marshal.SizeOf(field!.FieldType), $"{type.Name}.{name}: size {Marshal.SizeOf(field.FieldType)}, {kernel} header {size}");
        }
    }

    [Theory]
    [MemberData(nameof(Structs))]
    public void EveryDeclaredFieldIsInTheHeader(string kernel, Type type)
    {
        foreach (FieldInfo field in type.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
        {
            Assert.True(
                KernelHeaderProbe.For(kernel).Fields.ContainsKey(type.Name + "." + field.Name),
                $"{type.Name}.{field.Name} is not a field of struct {type.Name} in the {kernel} header");
        }
    }

    [Fact]
    public void TheProbeReadTheBackportsHeaderNotTheHosts()
    {
        // UBLK_U_CMD_DEL_DEV_ASYNC and UBLK_F_ZONED came after bookworm's own 6.1 header.
        Assert.Contains("UBLK_U_CMD_DEL_DEV_ASYNC", KernelHeaderProbe.Constants.Keys);
        Assert.Contains("headers-6.12", KernelHeaderProbe.For("6.12").CFlags, StringComparison.Ordinal);
    }

    [Fact]
    public void The73HeaderIsTheNewerOne()
    {
        // UPDATE_SIZE came after 6.12: the 7.3 probe read 7.3's header, not 6.12's again.
        Assert.Contains("UBLK_F_UPDATE_SIZE", KernelHeaderProbe.For("7.3").Constants.Keys);
        Assert.DoesNotContain("UBLK_F_UPDATE_SIZE", KernelHeaderProbe.For("6.12").Constants.Keys);
        Assert.Contains("headers-7.3", KernelHeaderProbe.For("7.3").CFlags, StringComparison.Ordinal);
    }
}
