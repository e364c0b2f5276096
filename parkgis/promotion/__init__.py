"""Investment promotion: projects, the pipeline, inquiries, pre-review and indicators."""
