#!/usr/bin/env bash
# Regenerates the default hold prompt config/prompts/hold.wav (8 kHz mono μ-law WAV, ~16 s):
# a short spoken greeting (espeak-ng) framed by a gentle, soft sine melody (sox synth).
# Needs: sox, espeak-ng. The result is committed, so building Meritline does not need these tools.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo_root/config/prompts/hold.wav}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

rate=8000
fmt=(-r "$rate" -c 1 -b 16 -e signed-integer)

# One melody note: a sine with its octave a little quieter, soft attack/release.
note() { # name duration frequency
    sox -n "${fmt[@]}" "$work/$1.wav" synth "$2" sine "$3" sine "$(awk "BEGIN { print $3 * 2 }")" \
        remix 1,2 fade q 0.04 "$2" 0.12 vol 0.22
}

# C major pentatonic phrase (C5 E5 G5 A5 G5 E5 D5 C5), ~0.45 s per note.
notes=(523.25 659.25 783.99 880.00 783.99 659.25 587.33 523.25)
melody_parts=()
for i in "${!notes[@]}"; do
    note "n$i" 0.45 "${notes[$i]}"
    melody_parts+=("$work/n$i.wav")
done
sox "${melody_parts[@]}" "$work/melody.wav"
sox -n "${fmt[@]}" "$work/pause.wav" trim 0 0.6

# The spoken sentence, resampled to 8 kHz, band-limited for the telephone.
espeak-ng -v en-us -s 150 -w "$work/voice_raw.wav" \
    "Thank you for calling. Please hold, an agent will be with you shortly."
sox "$work/voice_raw.wav" "${fmt[@]}" "$work/voice.wav" highpass 200 lowpass 3400 norm -3

# melody, voice, melody twice: about 16 s before it loops.
sox "$work/melody.wav" "$work/pause.wav" "$work/voice.wav" "$work/pause.wav" \
    "$work/melody.wav" "$work/melody.wav" "$work/pause.wav" "$work/mix.wav"

mkdir -p "$(dirname "$out")"
sox "$work/mix.wav" -r "$rate" -c 1 -e u-law -b 8 -t wav "$out"
echo "wrote $out: $(soxi -D "$out") s, $(stat -c %s "$out") bytes"
