FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md settings.py ./
COPY actors ./actors
COPY adapters ./adapters
COPY cli ./cli
COPY gateway ./gateway
COPY models ./models
COPY node_agent ./node_agent
RUN pip install --no-cache-dir .
USER nobody
CMD ["hero-onboarding", "gateway"]
