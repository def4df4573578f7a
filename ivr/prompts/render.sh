#!/usr/bin/env bash
# Renders the IVR's fixed prompts from prompts.tsv into zh/<id>.wav and en/<id>.wav:
# espeak-ng (Debian package `espeak-ng`; voices `cmn` and `en`) → sox (package `sox`) → 8 kHz
# mono G.711 A-law WAV (G.711-ready, half the size of 16-bit PCM), leading and trailing silence
# trimmed, peak-normalised to −3 dBFS, 60 ms of silence appended so concatenated words do not
# run together. These files are committed; the
# server embeds them and encodes them to G.711 at start-up. To use studio recordings instead,
# record the same texts and save them under the same names as 8 kHz mono WAV (A-law, µ-law or
# 16-bit PCM), then rebuild; or point the server's `[ivr] prompts_dir` at a directory laid out
# like this one (zh/<id>.wav, en/<id>.wav): files there override the built-in ones.
#
# Usage: ivr/prompts/render.sh [ID…]     (no ID: render everything)
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null || { echo "render.sh: espeak-ng is not installed (apt-get install espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "render.sh: sox is not installed (apt-get install sox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p zh en
only=" $* "
render() { # lang voice id text
  local lang=$1 voice=$2 id=$3 text=$4
  espeak-ng -v "$voice" -s 170 -w "$tmp/raw.wav" -- "$text"
  sox "$tmp/raw.wav" -r 8000 -c 1 -e a-law -b 8 "$lang/$id.wav" \
      silence 1 0.01 0.3% reverse silence 1 0.01 0.3% reverse gain -n -3 pad 0 0.06
}
n=0
while IFS=$'\t' read -r id zh en; do
  case "$id" in ''|'#'*) continue ;; esac
  if [ $# -gt 0 ] && [[ "$only" != *" $id "* ]]; then continue; fi
  [ -n "$zh" ] && [ -n "$en" ] || { echo "render.sh: $id needs both languages" >&2; exit 1; }
  render zh cmn "$id" "$zh"
  render en en "$id" "$en"
  n=$((n + 1))
done < prompts.tsv
echo "rendered $n prompts in zh and en ($(du -sh zh en | awk '{print $1}' | paste -sd+ -))"
