"""Reading responses and the overloads, as openai-python users write it: 0 errors."""

from __future__ import annotations

from apertis import Apertis
from apertis.types import Transcription

client = Apertis(api_key="sk-test")

stream = client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hi"}], stream=True)
for chunk in stream:
    if chunk.choices:
        text = chunk.choices[0].delta.content
        if text is not None:
            print(text, end="")

completion = client.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hi"}])
if completion.usage is not None:
    print(completion.usage.total_tokens + completion.usage.prompt_tokens)
print(completion.choices[0].message.content)

embeddings = client.embeddings.create(model="text-embedding-3-small", input="hello", dimensions=None)
print(embeddings.data[0].embedding)

with open("speech.mp3", "rb") as audio:
    transcription: Transcription = client.audio.transcriptions.create(file=audio, model="whisper-1")
    print(transcription.text)
    verbose = client.audio.transcriptions.create(file=audio, model="whisper-1", response_format="verbose_json")
    print(verbose.segments)
    subtitles = client.audio.transcriptions.create(file=audio, model="whisper-1", response_format="srt")
    # gpt-4o(-mini)-transcribe answer JSON whatever the format: a text format may still give the model.
    print(subtitles if isinstance(subtitles, str) else subtitles.text)
    english = client.audio.translations.create(file=audio, model="whisper-1")
    print(english.text)
