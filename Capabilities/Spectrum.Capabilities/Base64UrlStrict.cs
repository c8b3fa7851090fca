namespace Spectrum.Capabilities;

/// <summary>
/// base64url without padding, decoded strictly: only the 64 alphabet characters, no padding, no
/// whitespace, no impossible length and no stray bits in the last character. The framework
/// decoders are lenient on some of these (whitespace, padding), and any leniency would give one
/// token several accepted spellings, which breaks "exactly one accepted encoding per token".
/// </summary>
internal static class Base64UrlStrict
{
    private const byte Invalid = 255;
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    private static ReadOnlySpan<byte> Map =>
    [
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 62, 255, 255,
        52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 255, 255, 255, 255, 255, 255,
        255, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
        15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 255, 255, 255, 255, 63,
        255, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 255, 255, 255, 255, 255,
    ];

    /// <summary>Characters needed for <paramref name="byteCount"/> bytes.</summary>
    public static int EncodedLength(int byteCount) => (byteCount / 3 * 4) + (byteCount % 3 == 0 ? 0 : (byteCount % 3) + 1);

    /// <summary>Encodes <paramref name="bytes"/> after <paramref name="prefix"/>.</summary>
    public static string Encode(string prefix, byte[] bytes) =>
        string.Create(prefix.Length + EncodedLength(bytes.Length), (prefix, bytes), static (chars, state) =>
        {
            state.prefix.CopyTo(chars);
            var output = chars[state.prefix.Length..];
            var input = state.bytes;
            int i = 0, o = 0;
            for (; i + 3 <= input.Length; i += 3)
            {
                var v = (input[i] << 16) | (input[i + 1] << 8) | input[i + 2];
                output[o++] = Alphabet[v >> 18];
                output[o++] = Alphabet[(v >> 12) & 63];
                output[o++] = Alphabet[(v >> 6) & 63];
                output[o++] = Alphabet[v & 63];
            }

            switch (input.Length - i)
            {
                case 1:
                    output[o++] = Alphabet[input[i] >> 2];
                    output[o] = Alphabet[(input[i] & 3) << 4];
                    break;
                case 2:
                    var v = (input[i] << 8) | input[i + 1];
                    output[o++] = Alphabet[v >> 10];
                    output[o++] = Alphabet[(v >> 4) & 63];
                    output[o] = Alphabet[(v & 15) << 2];
                    break;
            }
        });

    /// <summary>
    /// Decodes strictly. <paramref name="offset"/> is where <paramref name="text"/> starts in the
    /// token, so that an error can name the position without quoting the token.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<char> text, int offset, out byte[] bytes, out string error)
    {
        bytes = [];
        error = "";
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c >= 128 || Map[c] == Invalid)
            {
                error = c == '='
                    ? "token has base64 padding; spg1_ tokens are written without '='"
                    : $"token has a character that is not base64url at position {offset + i}; it was mangled in transit (copy it again)";
                return false;
            }
        }

        var rest = text.Length % 4;
        if (rest == 1)
        {
            error = "token is truncated (its base64url length is impossible)";
            return false;
        }

        bytes = new byte[(text.Length / 4 * 3) + (rest == 0 ? 0 : rest - 1)];
        int t = 0, b = 0;
        for (; t + 4 <= text.Length; t += 4)
        {
            var v = (Map[text[t]] << 18) | (Map[text[t + 1]] << 12) | (Map[text[t + 2]] << 6) | Map[text[t + 3]];
            bytes[b++] = (byte)(v >> 16);
            bytes[b++] = (byte)(v >> 8);
            bytes[b++] = (byte)v;
        }

        if (rest == 2)
        {
            int c0 = Map[text[t]], c1 = Map[text[t + 1]];
            if ((c1 & 15) != 0)
            {
                error = "token has non-canonical base64url trailing bits";
                return false;
            }

            bytes[b] = (byte)((c0 << 2) | (c1 >> 4));
        }
        else if (rest == 3)
        {
            int c0 = Map[text[t]], c1 = Map[text[t + 1]], c2 = Map[text[t + 2]];
            if ((c2 & 3) != 0)
            {
                error = "token has non-canonical base64url trailing bits";
                return false;
            }

            bytes[b++] = (byte)((c0 << 2) | (c1 >> 4));
            bytes[b] = (byte)(((c1 & 15) << 4) | (c2 >> 2));
        }

        return true;
    }
}
