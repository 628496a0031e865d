#!/usr/bin/env bash
# Regenerates the prompts in config/prompts/ (8 kHz mono μ-law WAVs). Needs: sox, espeak-ng. The
# results are committed, so building Meritline does not need these tools.
#
#   scripts/make-prompts.sh [all|hold|survey] [out_dir]     (default: all, config/prompts)
#
# hold:   hold.wav (~16 s): a short spoken greeting framed by a gentle sine melody (sox synth).
# survey: the post-call survey announcements, spoken (espeak-ng), telephone band-limited:
#         survey_csat.wav, survey_resolved.wav, survey_invalid.wav, survey_thanks.wav.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
what="${1:-all}"
out_dir="${2:-$repo_root/config/prompts}"
case "$what" in
    all | hold | survey) ;;
    *)
        echo "usage: $0 [all|hold|survey] [out_dir]" >&2
        exit 2
        ;;
esac
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out_dir"

# Repeatable mode (fixed dither seed): the same input gives the same bytes on every run.
sox() { command sox -R "$@"; }

rate=8000
fmt=(-r "$rate" -c 1 -b 16 -e signed-integer)

# Writes $1 (any WAV) as the 8 kHz mono μ-law WAV $2.
to_ulaw() {
    sox "$1" -r "$rate" -c 1 -e u-law -b 8 -t wav "$2"
    echo "wrote $2: $(soxi -D "$2") s, $(stat -c %s "$2") bytes"
}

# Speaks $2 into $1 (16-bit, 8 kHz), band-limited for the telephone.
speak() {
    espeak-ng -v en-us -s 150 -w "$work/speak_raw.wav" "$2"
    sox "$work/speak_raw.wav" "${fmt[@]}" "$1" highpass 200 lowpass 3400 norm -3
}

make_hold() {
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

    speak "$work/voice.wav" "Thank you for calling. Please hold, an agent will be with you shortly."

    # melody, voice, melody twice: about 16 s before it loops.
    sox "$work/melody.wav" "$work/pause.wav" "$work/voice.wav" "$work/pause.wav" \
        "$work/melody.wav" "$work/melody.wav" "$work/pause.wav" "$work/mix.wav"

    to_ulaw "$work/mix.wav" "$out_dir/hold.wav"
}

make_survey() {
    # A short pause before the voice, so the first syllable is not clipped after a media switch.
    sox -n "${fmt[@]}" "$work/lead_in.wav" trim 0 0.2
    local name text
    while IFS='|' read -r name text; do
        speak "$work/$name.wav" "$text"
        sox "$work/lead_in.wav" "$work/$name.wav" "$work/${name}_padded.wav"
        to_ulaw "$work/${name}_padded.wav" "$out_dir/$name.wav"
    done <<'PROMPTS'
survey_csat|Please rate how satisfied you are with this call, from 1, very dissatisfied, to 5, very satisfied.
survey_resolved|Was your issue resolved? Press 1 for yes, 2 for no.
survey_invalid|Sorry, that is not a valid choice.
survey_thanks|Thank you for your feedback. Goodbye.
PROMPTS
}

if [[ "$what" == all || "$what" == hold ]]; then make_hold; fi
if [[ "$what" == all || "$what" == survey ]]; then make_survey; fi
