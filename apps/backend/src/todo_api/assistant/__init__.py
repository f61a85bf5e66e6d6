"""The AI assistant: OpenAI Chat Completions with function tools over the user's tasks."""
