"""Pattern 11: a file of requests in the OpenAI Batch API format, run with `python -m apertis batch`.

The command keeps N calls in flight (and within the key's rate limits), retries like the client, writes each result
as it completes, and can be rerun to finish what an interrupted run left: it sends only the lines with no answer.
"""

import json
import os
import subprocess
import sys
import tempfile

QUESTIONS = [f"In one sentence, what is topic {i}?" for i in range(1, 41)]


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        requests_path = os.path.join(directory, "requests.jsonl")
        results_path = os.path.join(directory, "results.jsonl")
        with open(requests_path, "w") as requests:
            for number, question in enumerate(QUESTIONS, start=1):
                request = {
                    "custom_id": f"question-{number}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]},
                }
                requests.write(json.dumps(request) + "\n")
            requests.write('{"custom_id": "broken", "url": "/v1/chat/completions"\n')  # cut short: reported, skipped

        # The key and base URL come from APERTIS_API_KEY and APERTIS_BASE_URL, like the client's.
        command = [sys.executable, "-m", "apertis", "batch", requests_path, "-o", results_path, "--concurrency", "8"]
        finished = subprocess.run(command, capture_output=True, text=True, check=True)
        print(finished.stderr.strip().splitlines()[-1])  # the summary

        with open(results_path) as results:
            answers = [json.loads(line) for line in results]
        for answer in sorted(answers, key=lambda a: a["custom_id"])[:3]:
            if answer["error"] is None:
                body = answer["response"]["body"]
                print(f"{answer['custom_id']}: {body['choices'][0]['message']['content'][:60]}")
            else:
                print(f"{answer['custom_id']}: failed ({answer['error']['code']})")


if __name__ == "__main__":
    main()
