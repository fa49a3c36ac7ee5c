"""Response and overload mistakes a type checker must catch (`# expect-error` lines only)."""

from __future__ import annotations

from apertis import Apertis

client = Apertis(api_key="sk-test")

completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
print(completion.usage.total_tokens)  # expect-error
print(completion.choices[0].message.content.upper())  # expect-error

with open("speech.mp3", "rb") as audio:
    transcription = client.audio.transcriptions.create(file=audio, model="whisper-1")
    print(transcription.upper())  # expect-error
    subtitles = client.audio.transcriptions.create(file=audio, model="whisper-1", response_format="vtt")
    print(subtitles.text)  # expect-error
    client.audio.transcriptions.create(file=audio, model="whisper-1", response_format="docx")  # expect-error
