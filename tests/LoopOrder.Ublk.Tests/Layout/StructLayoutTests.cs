using System.Reflection;
using System.Runtime.InteropServices;
using LoopOrder.Ublk.Structs;

namespace LoopOrder.Ublk.Tests.Layout;

/// <summary>Every kernel struct's size, and every field's offset and size, against the 6.12 header.</summary>
public class StructLayoutTests
{
    public static TheoryData<Type> Structs =>
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

    [Theory]
    [MemberData(nameof(Structs))]
    public void SizeMatchesTheHeader(Type type)
    {
        long expected = KernelHeaderProbe.Sizes[type.Name];
        Assert.Equal(expected, Marshal.SizeOf(type));
        Assert.Equal(expected, (int)typeof(System.Runtime.CompilerServices.Unsafe).GetMethod("SizeOf")!.MakeGenericMethod(type).Invoke(null, null)!);

        // The Size constant each struct carries (used to size buffers and command lengths).
        object? constant = type.GetField("Size", BindingFlags.Public | BindingFlags.Static)?.GetValue(null);
        Assert.Equal(expected, Convert.ToInt64(constant, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [MemberData(nameof(Structs))]
    public void EveryHeaderFieldIsDeclaredAtItsOffsetWithItsSize(Type type)
    {
        string prefix = type.Name + ".";
        string[] headerFields = [.. KernelHeaderProbe.Fields.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal))];
        Assert.NotEmpty(headerFields);
        foreach (string key in headerFields)
        {
            string name = key[prefix.Length..];
            (long offset, long size) = KernelHeaderProbe.Fields[key];
            FieldInfo? field = type.GetField(name, BindingFlags.Public | BindingFlags.Instance);
            Assert.True(field is not null, $"{type.Name} lacks the header's field {name}");
            Assert.True(offset == (long)Marshal.OffsetOf(type, name), $"{type.Name}.{name}: offset {Marshal.OffsetOf(type, name)}, header {offset}");
            Assert.True(size == Marshal.SizeOf(field!.FieldType), $"{type.Name}.{name}: size {Marshal.SizeOf(field.FieldType)}, header {size}");
        }
    }

    [Theory]
    [MemberData(nameof(Structs))]
    public void EveryDeclaredFieldIsInTheHeader(Type type)
    {
        foreach (FieldInfo field in type.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
        {
            Assert.True(
                KernelHeaderProbe.Fields.ContainsKey(type.Name + "." + field.Name),
                $"{type.Name}.{field.Name} is not a field of struct {type.Name} in the 6.12 header");
        }
    }

    [Fact]
    public void TheProbeReadTheBackportsHeaderNotTheHosts()
    {
        // UBLK_U_CMD_DEL_DEV_ASYNC and UBLK_F_ZONED came after bookworm's own 6.1 header.
        Assert.Contains("UBLK_U_CMD_DEL_DEV_ASYNC", KernelHeaderProbe.Constants.Keys);
        Assert.Contains("headers", KernelHeaderProbe.CFlags, StringComparison.Ordinal);
    }
}
